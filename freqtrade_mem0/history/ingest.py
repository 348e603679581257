"""Backtest result files as memories: one summary per strategy run and one memory per trade.

The keys are the ones the mixin and `freqtrade-mem0 backtesting` use (freqtrade's run id, the
trade's pair, side and open time), so a run whose trades the mixin already remembered, or a
file ingested twice, adds nothing. A file is read and checked whole before anything of it is
written: a bad file is reported and skipped, and what is stored stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from freqtrade_mem0.backtest_memory import backtest_summary
from freqtrade_mem0.errors import ResultFileError
from freqtrade_mem0.history.results import StrategyResult, find_result_files, read_result_file
from freqtrade_mem0.market import MarketSeries
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryRecord, RunMode
from freqtrade_mem0.records import trade_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What ingesting one strategy run stored."""

    strategy: str
    run_id: str
    trades: int
    with_market: int
    written: int
    skipped: int


@dataclass(frozen=True)
class FileOutcome:
    """What ingesting one file did: its runs, or why it was skipped."""

    path: Path
    runs: list[RunOutcome] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class IngestReport:
    """What an ingestion did, file by file."""

    files: list[FileOutcome]

    @property
    def runs(self) -> list[RunOutcome]:
        """Every strategy run ingested."""
        return [run for outcome in self.files for run in outcome.runs]

    @property
    def failed(self) -> list[FileOutcome]:
        """The files skipped, each with its reason."""
        return [outcome for outcome in self.files if outcome.error is not None]

    @property
    def written(self) -> int:
        """Memories stored that were not there before."""
        return sum(run.written for run in self.runs)

    @property
    def skipped(self) -> int:
        """Memories already stored, left as they were."""
        return sum(run.skipped for run in self.runs)

    def summary(self) -> str:
        """One line for a person."""
        runs = self.runs
        strategies = len({run.strategy for run in runs})
        line = (
            f"{len(self.files)} file(s): {len(runs)} run(s) of {strategies} strategy(ies), "
            f"{sum(r.trades for r in runs)} trades ({sum(r.with_market for r in runs)} with "
            f"market fingerprints); {self.written} new memories, {self.skipped} already stored"
        )
        if self.failed:
            line += f"; {len(self.failed)} file(s) skipped"
        return line

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "files": [
                {
                    "path": str(outcome.path),
                    "error": outcome.error,
                    "runs": [run.__dict__ for run in outcome.runs],
                }
                for outcome in self.files
            ],
            "written": self.written,
            "skipped": self.skipped,
            "failed": len(self.failed),
        }


class CandleData:
    """Market fingerprints from freqtrade's candle files, loaded once per pair and timeframe.

    Args:
        datadir: the exchange's data folder (e.g. `user_data/data/binance`).
        data_format: freqtrade's candle format (`feather`, `json`, `parquet`...); None for
            freqtrade's default.
    """

    def __init__(self, datadir: str | Path, data_format: str | None = None) -> None:
        self.datadir = Path(datadir)
        self.data_format = data_format
        self._series: dict[tuple[str, str, str], MarketSeries | None] = {}

    def series(self, pair: str, timeframe: str, candle_type: str = "spot") -> MarketSeries | None:
        """The pair's fingerprints, or None when the folder has no candles for it."""
        key = (pair, timeframe, candle_type)
        if key not in self._series:
            self._series[key] = self._load(pair, timeframe, candle_type)
        return self._series[key]

    def _load(self, pair: str, timeframe: str, candle_type: str) -> MarketSeries | None:
        from freqtrade.data.history import load_pair_history
        from freqtrade.enums import CandleType
        from freqtrade.exchange import timeframe_to_minutes

        # the same loading as freqtrade's backtesting (gaps filled), so fingerprints match the
        # ones the mixin computed on the dataframes the engine handed the strategy
        frame = load_pair_history(
            pair=pair,
            timeframe=timeframe,
            datadir=self.datadir,
            data_format=self.data_format,
            candle_type=CandleType.from_string(candle_type),
        )
        if frame.empty:
            return None
        return MarketSeries.from_frame(frame, timedelta(minutes=timeframe_to_minutes(timeframe)))


def run_records(
    run: StrategyResult, *, candles: CandleData | None = None, notes: str | None = None
) -> list[MemoryRecord]:
    """The memories of one strategy run: its summary first, then one per trade."""
    summary = backtest_summary(
        run.stats,
        strategy=run.strategy,
        run_id=run.run_id,
        metadata=run.metadata,
        config=run.config,
        strategy_source=run.strategy_source,
        result_file=run.source.resolve() if run.source else None,
        notes=notes,
    )
    timeframe = run.timeframe
    candle_type = "futures" if _trading_mode(run) == "futures" else "spot"
    records = [summary]
    for facts in run.trades:
        series = (
            candles.series(facts.pair, timeframe, candle_type) if candles and timeframe else None
        )
        records.append(
            trade_record(
                facts,
                strategy=run.strategy,
                mode=RunMode.BACKTEST,
                run_id=run.run_id,
                timeframe=timeframe,
                exchange=run.exchange,
                entry=series.context_at(facts.open_date) if series is not None else None,
            )
        )
    return records


def _trading_mode(run: StrategyResult) -> str:
    mode = run.stats.get("trading_mode") or (run.config or {}).get("trading_mode") or "spot"
    return str(mode)


def ingest_file(
    memory: Memory,
    path: str | Path,
    *,
    candles: CandleData | None = None,
    notes: str | None = None,
    refresh: bool = False,
) -> FileOutcome:
    """Ingest one result file; a bad file comes back with its reason, nothing of it stored.

    Args:
        memory: where to store.
        path: a `.json` or `.zip` result file.
        candles: candle files for market fingerprints at each trade's entry.
        notes: notes to keep with every run of the file.
        refresh: rewrite memories already stored (e.g. to add fingerprints); by default they
            are left untouched and nothing is embedded for them.
    """
    path = Path(path)
    try:
        result = read_result_file(path)
        per_run = [(run, run_records(run, candles=candles, notes=notes)) for run in result.runs]
    except ResultFileError as exc:
        logger.info("skipped %s", exc)  # the caller reports it
        return FileOutcome(path, error=exc.reason)
    outcomes = []
    for run, records in per_run:
        stored = memory.remember(records, skip_existing=not refresh)
        outcomes.append(
            RunOutcome(
                strategy=run.strategy,
                run_id=run.run_id,
                trades=len(run.trades),
                with_market=sum(1 for r in records[1:] if r.market is not None),
                written=len(stored.written),
                skipped=len(stored.skipped),
            )
        )
    return FileOutcome(path, outcomes)


def ingest(
    memory: Memory,
    paths: Iterable[str | Path],
    *,
    every_run: bool = False,
    datadir: str | Path | None = None,
    data_format: str | None = None,
    notes: str | None = None,
    refresh: bool = False,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> IngestReport:
    """Ingest backtest result files: files, results folders or glob patterns.

    Args:
        memory: where to store.
        paths: as `find_result_files` takes them.
        every_run: in a folder, every result file instead of the latest.
        datadir: freqtrade's candle folder, for market fingerprints at entry.
        data_format: the candles' format (None: freqtrade's default).
        notes: notes to keep with every run.
        refresh: rewrite memories already stored.
        on_file: called after each file (progress).

    Raises:
        ResultFileError: a path names no result file at all (nothing is stored then).
    """
    files = find_result_files(paths, every_run=every_run)
    candles = CandleData(datadir, data_format) if datadir is not None else None
    outcomes = []
    for path in files:
        outcome = ingest_file(memory, path, candles=candles, notes=notes, refresh=refresh)
        outcomes.append(outcome)
        if on_file is not None:
            on_file(outcome)
    return IngestReport(outcomes)
