"""Backtest history: ingest freqtrade's result files, follow a strategy's runs over time, compare
two runs, draw them, and mine the trades for conditions where a strategy did clearly better or
worse than its own average.

    from freqtrade_mem0 import Memory
    from freqtrade_mem0.history import compare_runs, find_insights, ingest

    with Memory.open("user_data/mem0") as memory:
        ingest(memory, ["user_data/backtest_results"], every_run=True)
        runs = memory.history(strategy="MyStrategy")      # a DataFrame, one row per run
        diff = compare_runs(memory, runs.run_id.iloc[-2], runs.run_id.iloc[-1])
        found = find_insights(memory, strategy="MyStrategy")
"""

from freqtrade_mem0.errors import ResultFileError
from freqtrade_mem0.history.ingest import (
    CandleData,
    FileOutcome,
    IngestReport,
    RunOutcome,
    ingest,
    ingest_file,
    run_records,
)
from freqtrade_mem0.history.insights import InsightSettings, StrategyInsights, find_insights
from freqtrade_mem0.history.plots import history_figure, write_history_html
from freqtrade_mem0.history.results import (
    ResultFile,
    StrategyResult,
    find_result_files,
    read_result_file,
)
from freqtrade_mem0.history.table import Comparison, compare_runs, history_frame

__all__ = [
    "CandleData",
    "Comparison",
    "FileOutcome",
    "IngestReport",
    "InsightSettings",
    "ResultFile",
    "ResultFileError",
    "RunOutcome",
    "StrategyInsights",
    "StrategyResult",
    "compare_runs",
    "find_insights",
    "find_result_files",
    "history_figure",
    "history_frame",
    "ingest",
    "ingest_file",
    "read_result_file",
    "run_records",
    "write_history_html",
]
