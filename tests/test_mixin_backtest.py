"""Mem0Mixin in freqtrade's real backtesting engine, on the shipped candles."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from freqtrade_mem0 import Memory, fingerprint
from freqtrade_mem0.backtest import BacktestRun, hyperopt_main, run_backtest
from freqtrade_mem0.cli import cli
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.models import MemoryKind, RunMode
from freqtrade_mem0.strategy_memory import StrategyMemory
from tests.freqtrade_helpers import copy_example_userdir, example_config

pytestmark = pytest.mark.integration

MEMORY_STRATEGY = "MemorySampleStrategy"
HASHING = {"embedder": "hashing"}


def backtest(userdir: Path, **overrides: Any) -> BacktestRun:
    config = example_config(userdir, mem0=HASHING, export="trades")
    config.update(overrides)
    return run_backtest(config)


def trade_memories(userdir: Path, run_id: str) -> pd.DataFrame:
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        records = list(memory.iterate(f'kind:trade AND run_id:"{run_id}"'))
    return pd.DataFrame(
        {
            "pair": r.pair,
            "open_date": pd.Timestamp(r.data["open_date"]),
            "close_date": pd.Timestamp(r.timestamp),
            "profit": r.metrics["profit"],
            "profit_abs": r.metrics["profit_abs"],
            "exit_reason": r.exit_reason,
            "mode": r.mode,
            "strategy": r.strategy,
            "market": r.market,
            "text": r.text,
        }
        for r in records
    ).sort_values(["open_date", "pair"], ignore_index=True)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BacktestRun]:
    """One run of the plain strategy and its memory twin side by side."""
    userdir = copy_example_userdir(tmp_path_factory.mktemp("both") / "user_data")
    run = backtest(userdir, strategy_list=["SampleStrategy", MEMORY_STRATEGY])
    return userdir, run


def test_every_trade_is_remembered_with_freqtrade_numbers(both: tuple[Path, BacktestRun]) -> None:
    userdir, run = both
    trades = run.trades(MEMORY_STRATEGY).sort_values(["open_date", "pair"], ignore_index=True)
    memories = trade_memories(userdir, run.run_ids[MEMORY_STRATEGY])

    assert len(memories) == len(trades) > 50
    assert (memories["strategy"] == MEMORY_STRATEGY).all()
    assert (memories["mode"] == RunMode.BACKTEST).all()
    assert list(memories["pair"]) == list(trades["pair"])
    assert list(memories["open_date"]) == list(trades["open_date"])
    assert list(memories["close_date"]) == list(trades["close_date"])
    assert list(memories["exit_reason"]) == list(trades["exit_reason"])
    assert memories["profit"].to_numpy() == pytest.approx(100 * trades["profit_ratio"], abs=1e-9)
    assert memories["profit_abs"].to_numpy() == pytest.approx(trades["profit_abs"], abs=1e-12)
    # end-of-run force exits skip confirm_trade_exit; order_filled still catches them
    assert (
        (memories["exit_reason"] == "force_exit").sum()
        == (trades["exit_reason"] == "force_exit").sum()
        > 0
    )


def test_trade_memories_carry_the_entry_market(both: tuple[Path, BacktestRun]) -> None:
    userdir, run = both
    memories = trade_memories(userdir, run.run_ids[MEMORY_STRATEGY])
    with_market = memories["market"].map(lambda m: m is not None and len(m) == fingerprint.DIM)
    assert with_market.all()  # startup_candle_count 300 >= the fingerprint's warm-up
    assert memories["text"].str.contains(r" closed [+-]\d+\.\d\d% after ").all()
    assert memories["text"].str.contains("; entry in a ").all()


def test_the_mixin_changes_no_trading_decision(both: tuple[Path, BacktestRun]) -> None:
    _, run = both
    plain = run.trades("SampleStrategy")
    remembered = run.trades(MEMORY_STRATEGY)
    columns = ["pair", "open_date", "close_date", "profit_abs", "exit_reason"]
    pd.testing.assert_frame_equal(plain[columns], remembered[columns])


def test_run_id_is_freqtrades_own(both: tuple[Path, BacktestRun]) -> None:
    _, run = both
    assert run.result_file is not None
    meta = run.results["metadata"][MEMORY_STRATEGY]
    assert run.run_ids[MEMORY_STRATEGY] == meta["run_id"]


def test_a_rerun_stores_nothing_twice(tmp_path: Path) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    first = backtest(userdir, strategy=MEMORY_STRATEGY, timerange="20180120-20180125")
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        stored = {r.id for r in memory.iterate()}
    second = backtest(userdir, strategy=MEMORY_STRATEGY, timerange="20180120-20180125")
    assert first.run_ids == second.run_ids
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        assert {r.id for r in memory.iterate()} == stored
        # a trade the run did not make again (e.g. made by an older version) is replaced
        (sample,) = memory.search(f"strategy:{MEMORY_STRATEGY}", limit=1)
        stale = sample.record.model_copy(update={"key": "a trade of an older version"})
        memory.remember([stale])
    assert len(stored) == len(first.trades())
    backtest(userdir, strategy=MEMORY_STRATEGY, timerange="20180120-20180125")
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        assert {r.id for r in memory.iterate()} == stored


def test_failing_memory_never_changes_trading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    calls = []

    def broken(self: StrategyMemory, *args: Any) -> None:
        calls.append(args)
        raise RuntimeError("disk on fire")

    # what order_filled, confirm_trade_entry and bot_loop_start call
    for method in ("on_fill", "tick", "loop"):
        monkeypatch.setattr(StrategyMemory, method, broken)
    with caplog.at_level(logging.WARNING, logger="freqtrade_mem0"):
        run = backtest(userdir, strategy_list=["SampleStrategy", MEMORY_STRATEGY])
    assert len(calls) > 100
    columns = ["pair", "open_date", "close_date", "profit_abs"]
    pd.testing.assert_frame_equal(
        run.trades("SampleStrategy")[columns], run.trades(MEMORY_STRATEGY)[columns]
    )
    failures = [r.getMessage() for r in caplog.records if "disk on fire" in r.getMessage()]
    # each distinct failure is logged once per hook, not once per candle
    hooks = {"bot_loop_start", "confirm_trade_entry", "order_filled"}
    assert len(failures) == len(hooks)
    assert {message.split()[1] for message in failures} == hooks


HOLD_STORE = """
import sys, time
from freqtrade_mem0 import Memory
from freqtrade_mem0.embedding import HashingEmbedder
memory = Memory.open(sys.argv[1], embedder=HashingEmbedder())
print("holding", flush=True)
sys.stdin.readline()
memory.close()
"""


def test_a_store_held_by_another_process_is_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STORE, str(userdir / "mem0")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with caplog.at_level(logging.WARNING, logger="freqtrade_mem0"):
            run = backtest(userdir, strategy=MEMORY_STRATEGY, timerange="20180120-20180125")
        assert len(run.trades()) > 0
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "not available" in messages
        assert "could not be delivered" in messages
    finally:
        holder.communicate("\n", timeout=30)


def test_analysis_and_hyperopt_modes_do_not_write_by_default() -> None:
    for runmode, writes in [
        ("backtest", True),
        ("dry_run", True),
        ("live", True),
        ("hyperopt", False),
        ("util_no_exchange", False),  # lookahead-analysis and recursive-analysis
    ]:
        state = StrategyMemory({"runmode": runmode, "mem0": HASHING})
        assert (state.mode in state.settings.write_modes) is writes, runmode
    configured = StrategyMemory({"runmode": "hyperopt", "mem0": {"write_modes": ["hyperopt"]}})
    assert configured.mode in configured.settings.write_modes


def test_summary_memories_only_for_summaries(both: tuple[Path, BacktestRun]) -> None:
    userdir, _ = both
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        kinds = {r.kind for r in memory.iterate()}
    # the engine alone stores trades; summaries come from `backtesting` / ingest
    assert kinds == {MemoryKind.TRADE}


@pytest.mark.slow
def test_hyperopt_with_two_workers_runs_the_mixin_and_writes_nothing(tmp_path: Path) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    config = example_config(userdir, mem0=HASHING)
    (userdir / "config.json").write_text(json.dumps(config))
    argv = [
        *("--config", str(userdir / "config.json"), "--userdir", str(userdir)),
        *("--strategy", "LearningSampleStrategy", "--timerange", "20180115-20180125"),
        *("--hyperopt-loss", "SharpeHyperOptLoss", "--spaces", "buy"),
        *("-e", "4", "-j", "2", "--random-state", "1"),
    ]
    assert hyperopt_main(argv) == 0
    assert list((userdir / "hyperopt_results").glob("*.fthypt"))
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        assert memory.count() == 0


def test_the_backtesting_command_stores_a_summary_beside_the_trades(tmp_path: Path) -> None:
    userdir = copy_example_userdir(tmp_path / "user_data")
    config = example_config(userdir, mem0=HASHING)
    (userdir / "config.json").write_text(json.dumps(config))
    args = [
        *("backtesting", "--config", str(userdir / "config.json"), "--userdir", str(userdir)),
        *("--strategy", MEMORY_STRATEGY, "--timerange", "20180120-20180125"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "stored 1 backtest summary memories" in result.output
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        (summary,) = memory.iterate("kind:summary")
        trades = memory.count(f'kind:trade AND run_id:"{summary.run_id}"')
    assert summary.strategy == MEMORY_STRATEGY
    assert summary.metrics["trades"] == trades > 0
    assert summary.data["config_hash"]
    assert summary.data["strategy_hash"]
    assert {row["pair"] for row in summary.data["results_per_pair"]} <= set(
        config["exchange"]["pair_whitelist"]
    )
