"""Ingesting result files: what is stored, under which keys, and that nothing is stored twice."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from freqtrade_mem0.backtest import run_backtest
from freqtrade_mem0.backtest_memory import summaries_of
from freqtrade_mem0.cli import cli
from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import ResultFileError
from freqtrade_mem0.history import CandleData, ingest, read_result_file, run_records
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryKind, RunMode
from freqtrade_mem0.records import trade_key
from tests.freqtrade_helpers import copy_example_userdir, example_config
from tests.history_helpers import (
    CANDLES,
    NEW,
    NEW_ZIP,
    OLD,
    OLD_MULTI,
    OLD_SINGLE,
    SHIPPED,
    SHIPPED_RUNS,
    SHORT,
    engine_history,
)

TOTAL = sum(SHIPPED_RUNS.values()) + len(SHIPPED_RUNS)  # a memory per trade, a summary per run


def test_every_run_becomes_a_summary_and_every_trade_a_memory(edge_memory: Memory) -> None:
    report = ingest(edge_memory, SHIPPED)

    assert not report.failed
    assert {(r.strategy, r.run_id): r.trades for r in report.runs} == SHIPPED_RUNS
    assert report.written == TOTAL == edge_memory.count()
    assert edge_memory.count("kind:summary") == len(SHIPPED_RUNS)
    for (strategy, run_id), trades in SHIPPED_RUNS.items():
        query = f'strategy:{strategy} AND run_id:"{run_id}" AND kind:trade'
        assert edge_memory.count(query) == trades


def test_ingesting_again_stores_nothing_new(edge_memory: Memory) -> None:
    ingest(edge_memory, SHIPPED)
    before = {r.id: r.created_at for r in edge_memory.iterate(with_vectors=False)}
    again = ingest(edge_memory, [OLD, OLD_MULTI, NEW])  # the same files, reached otherwise
    assert again.written == 0
    assert again.skipped == TOTAL
    assert {r.id: r.created_at for r in edge_memory.iterate(with_vectors=False)} == before


def test_trade_memories_have_the_mixins_keys_and_close_times(edge_memory: Memory) -> None:
    ingest(edge_memory, [NEW_ZIP])
    run = read_result_file(NEW_ZIP).runs[0]
    stored = {r.key: r for r in edge_memory.iterate("kind:trade")}
    assert set(stored) == {trade_key(run.strategy, run.run_id, facts) for facts in run.trades}
    facts = run.trades[0]
    record = stored[trade_key(run.strategy, run.run_id, facts)]
    assert record.timestamp == facts.close_date  # point in time: known when it closed
    assert record.mode is RunMode.BACKTEST
    assert record.exchange == "binance"
    assert record.metrics["profit"] == pytest.approx(100 * facts.profit_ratio)
    assert record.market is None  # no candles given


def test_summaries_carry_what_freqtrade_reported(edge_memory: Memory) -> None:
    ingest(edge_memory, [NEW_ZIP, OLD_SINGLE])
    stats = read_result_file(NEW_ZIP).runs[0].stats
    summary = next(edge_memory.iterate("kind:summary AND strategy:SampleStrategy"))
    assert summary.key == "summary|SampleStrategy|ffa70724303e99a4ec59591ea7e7ad2e264f6998"
    assert summary.timestamp.isoformat() == "2018-01-30T00:00:00+00:00"  # the period's end
    assert summary.metrics["profit"] == pytest.approx(100 * stats["profit_total"])
    assert summary.metrics["trades"] == 100
    assert summary.metrics["win_rate"] == pytest.approx(stats["winrate"])
    assert summary.metrics["drawdown"] == pytest.approx(100 * stats["max_drawdown_account"])
    assert summary.metrics["sharpe"] == pytest.approx(stats["sharpe"])
    data = summary.data
    assert data["timerange"] == "20180111-20180130"
    assert data["run_started"] == "2026-11-23T23:45:30+00:00"
    assert len(data["results_per_pair"]) == 10
    assert {"pair", "trades", "profit_total_pct", "winrate"} <= set(data["results_per_pair"][0])
    assert data["results_per_enter_tag"][0]["enter_tag"] == ""
    assert len(data["config_hash"]) == len(data["strategy_hash"]) == 64
    old = next(edge_memory.iterate("kind:summary AND strategy:StrategyTestV3"))
    # freqtrade 2024 left the timerange blank and reported no win rate
    assert old.data["timerange"] == "20180110-20180130"
    assert old.metrics["win_rate"] == pytest.approx(48 / 179)
    assert "sharpe" not in old.metrics


def test_candles_give_each_trade_its_entry_fingerprint(edge_memory: Memory) -> None:
    report = ingest(edge_memory, [NEW_ZIP], datadir=CANDLES)
    assert report.runs[0].with_market == 100
    candles = CandleData(CANDLES)
    for record in edge_memory.iterate("kind:trade", batch_size=50):
        series = candles.series(str(record.pair), "5m")
        assert series is not None
        context = series.context_at(datetime.fromisoformat(record.data["open_date"]))
        assert context is not None
        assert record.market == pytest.approx(context.vector, abs=1e-6)
        assert record.data["entry_candle"] == context.candle.isoformat()


def test_a_bad_file_is_skipped_and_changes_nothing(edge_memory: Memory, tmp_path: Path) -> None:
    ingest(edge_memory, [NEW_ZIP])
    before = edge_memory.count()
    # a file whose first strategy is fine and whose second has a broken trade: all or nothing
    data = json.loads(OLD_MULTI.read_text())
    del data["strategy"]["TestStrategy"]["trades"][5]["close_date"]
    del data["strategy"]["TestStrategy"]["trades"][5]["close_timestamp"]
    broken = tmp_path / "backtest-result-2022-04-02_12-53-26.json"
    broken.write_text(json.dumps(data))
    truncated = tmp_path / NEW_ZIP.name
    truncated.write_bytes(NEW_ZIP.read_bytes()[:5000])

    report = ingest(edge_memory, [broken, truncated, OLD_SINGLE])

    assert [(o.path, o.error is not None) for o in report.failed] == [
        (broken, True),
        (truncated, True),
    ]
    assert "trade 5" in str(report.failed[0].error)
    assert report.written == 180  # OLD_SINGLE's run, nothing of the others
    assert edge_memory.count() == before + 180
    assert edge_memory.count("strategy:StrategyTestV2") == 0


def test_no_such_path_stores_nothing(edge_memory: Memory, tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="no such file"):
        ingest(edge_memory, [NEW_ZIP, tmp_path / "nothing.zip"])
    assert edge_memory.count() == 0


# --- the command ----------------------------------------------------------------------------


def _invoke(store: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", str(store), "--embedder", "hashing", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_cli_ingest_reports_and_is_idempotent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, out, _ = _invoke(store, "ingest", OLD, str(OLD_MULTI), NEW)
    assert code == 0
    assert "3 file(s): 4 run(s) of 4 strategy(ies), 637 trades" in out
    assert f"{TOTAL} new memories, 0 already stored" in out
    code, out, _ = _invoke(store, "ingest", str(NEW / "*.zip"), "--json")
    assert code == 0
    assert json.loads(out)["written"] == 0
    assert json.loads(out)["skipped"] == 101


def test_cli_ingest_names_bad_files_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "backtest-result-2020-01-01_00-00-00.json"
    bad.write_text('{"strategy": {"X": {"trades": []}}')
    code, out, err = _invoke(tmp_path / "store", "ingest", bad, NEW_ZIP)
    assert code == 2
    assert f"skipped {bad}: not valid JSON" in err
    assert "101 new memories" in out
    assert "1 file(s) skipped" in out


def test_cli_ingest_shows_progress_for_many_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("freqtrade_mem0.cli.history.PROGRESS_MIN_FILES", 3)
    folder = tmp_path / "results"
    folder.mkdir()
    for day in range(1, 4):  # copies of one run: one summary and its trades in the end
        shutil.copy(OLD_SINGLE, folder / f"backtest-result-2024-01-{day:02d}_00-00-00.json")
    code, out, err = _invoke(tmp_path / "store", "ingest", folder, "--all")
    assert code == 0
    assert "ingesting" in err
    assert "3 file(s): 3 run(s) of 1 strategy(ies)" in out
    assert "180 new memories, 360 already stored" in out
    code, out, err = _invoke(tmp_path / "store", "ingest", folder / "*-01-0[12]_*.json")
    assert code == 0
    assert "ingesting" not in err  # few files, and no terminal


def test_cli_ingest_without_all_on_a_bare_folder(tmp_path: Path) -> None:
    code, _, err = _invoke(tmp_path / "store", "ingest", tmp_path)
    assert code == 2
    assert "pass --all" in err


# --- runs of freqtrade's real engine ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_fresh_runs_ingest_as_the_engine_saw_them(
    tmp_path_factory: pytest.TempPathFactory, edge_memory: Memory
) -> None:
    engine = engine_history(tmp_path_factory.getbasetemp())
    report = ingest(edge_memory, [engine.results], every_run=True, datadir=CANDLES)
    assert not report.failed
    assert [r.run_id for r in report.runs] == [run.run_ids["SampleStrategy"] for run in engine.runs]
    for outcome, run in zip(report.runs, engine.runs, strict=True):
        assert outcome.trades == run.stats()["total_trades"]
    # the summary `freqtrade-mem0 backtesting` stores at the end of a run is the ingested one
    for run in engine.runs:
        made = summaries_of(run)[0]
        stored = edge_memory.get(made.id)
        assert stored.key == made.key
        # the file's numbers went through JSON: equal to the last digit or two
        assert _close(stored.metrics, made.metrics)
        assert stored.timestamp == made.timestamp
        assert _close(
            {k: v for k, v in stored.data.items() if k != "result_file"},
            {k: v for k, v in made.data.items() if k != "result_file"},
        )
        assert Path(stored.data["result_file"]).resolve() == run.result_file.resolve()


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


@pytest.mark.slow
@pytest.mark.integration
def test_a_run_the_mixin_remembered_adds_only_its_summary(tmp_path: Path) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    config = example_config(
        userdir,
        strategy="MemorySampleStrategy",
        export="trades",
        timerange=SHORT,
        mem0={"embedder": "hashing"},
    )
    run = run_backtest(config)
    assert run.result_file is not None
    trades = run.stats()["total_trades"]
    with Memory.open(
        str(userdir / "mem0"), settings=Settings(), embedder=HashingEmbedder()
    ) as memory:
        assert memory.count("kind:trade") == trades
        records = run_records(
            read_result_file(run.result_file).runs[0], candles=CandleData(CANDLES)
        )
        remembered = {r.key: r for r in memory.get_many([r.id for r in records])}
        report = ingest(memory, [userdir / "backtest_results"], datadir=CANDLES)
        assert (report.written, report.skipped) == (1, trades)
        assert memory.count() == trades + 1
    # same keys, same numbers, and the same fingerprint at entry from the candle files
    for record in records[1:]:
        mixin = remembered[record.key]
        assert mixin.kind is MemoryKind.TRADE
        assert mixin.timestamp == record.timestamp
        assert mixin.metrics["profit"] == pytest.approx(record.metrics["profit"], abs=1e-9)
        assert mixin.market is not None
        assert record.market is not None
        assert np.allclose(mixin.market, record.market, atol=1e-5)
