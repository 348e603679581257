"""The strategy's memory outside the engine: live fills, store outages, pickling, hooks."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import TradingMode
from freqtrade.persistence import LocalTrade, Order

from freqtrade_mem0 import Memory, fingerprint
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.market import MarketSeries
from freqtrade_mem0.mixin import Mem0Mixin
from freqtrade_mem0.runtime import MemoryRuntime
from freqtrade_mem0.strategy_memory import (
    StrategyMemory,
    overrides_without_super,
    performance_record,
)
from freqtrade_mem0.trades import performance_metrics

T0 = datetime(2018, 1, 20, 12, tzinfo=UTC)
CANDLES = Path(__file__).resolve().parent.parent / "user_data_examples" / "data" / "binance"


class FakeStrategy:
    """What StrategyMemory reads from a strategy: its config, timeframe and warm-up."""

    timeframe = "5m"
    startup_candle_count = 300

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config


def order(side: str, price: float, amount: float, when: datetime, order_id: str) -> Order:
    return Order(
        ft_order_side=side,
        ft_pair="ETH/BTC",
        ft_is_open=False,
        ft_amount=amount,
        ft_price=price,
        order_id=order_id,
        status="closed",
        symbol="ETH/BTC",
        order_type="limit",
        side=side,
        price=price,
        average=price,
        amount=amount,
        filled=amount,
        remaining=0,
        cost=price * amount,
        order_date=when,
        order_filled_date=when,
        order_update_date=when,
    )


def open_trade(trade_id: int, opened: datetime, **fields: Any) -> LocalTrade:
    """A spot long of 0.5 ETH bought at 0.1 BTC, still open."""
    trade = LocalTrade(
        id=trade_id,
        pair="ETH/BTC",
        stake_amount=0.05,
        amount=0.5,
        amount_requested=0.5,
        open_rate=0.1,
        open_date=opened,
        fee_open=0.001,
        fee_close=0.001,
        exchange="binance",
        is_short=False,
        leverage=1.0,
        trading_mode=TradingMode.SPOT,
        is_open=True,
        **fields,
    )
    trade.orders.append(order("buy", 0.1, 0.5, opened, f"b{trade_id}"))
    trade.recalc_trade_from_orders()
    return trade


def closed_trade(trade_id: int, opened: datetime, exit_rate: float) -> tuple[LocalTrade, Order]:
    """A spot long closed as freqtrade closes it live, before it calls `order_filled`."""
    trade = open_trade(trade_id, opened, enter_tag="rsi")
    closed = opened + timedelta(hours=2)
    exit_order = order("sell", exit_rate, 0.5, closed, f"s{trade_id}")
    trade.orders.append(exit_order)
    trade.exit_reason = "roi"
    trade.close_date = closed
    trade.close(exit_rate, show_msg=False)
    return trade, exit_order


def dry_run_memory(userdir: Path, **mem0: Any) -> StrategyMemory:
    config = {
        "runmode": "dry_run",
        "bot_name": "test-bot",
        "user_data_dir": str(userdir),
        "exchange": {"name": "binance"},
        "mem0": {"embedder": "hashing", "outbox": {"retry_max_seconds": 0.2}, **mem0},
    }
    state = StrategyMemory(config)
    state.start(FakeStrategy(config))
    frame = pd.read_feather(CANDLES / "ETH_BTC-5m.feather")
    state.index_market(frame, "ETH/BTC", "5m")
    return state


def stored(userdir: Path) -> list[Any]:
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        return list(memory.iterate("kind:trade"))


def test_a_live_fill_becomes_one_memory_with_freqtrades_numbers(tmp_path: Path) -> None:
    state = dry_run_memory(tmp_path)
    trade, exit_order = closed_trade(1, T0, 0.102)
    state.on_fill(trade, exit_order, T0 + timedelta(hours=2))
    state.on_fill(trade, exit_order, T0 + timedelta(hours=2))  # a repeated fill event
    state.close()
    (record,) = stored(tmp_path)
    assert record.metrics["profit"] == pytest.approx(100 * trade.close_profit)
    assert record.metrics["profit_abs"] == pytest.approx(trade.close_profit_abs)
    assert record.run_id == "dry_run:test-bot"
    assert record.exit_reason == "roi"
    assert record.enter_tag == "rsi"
    assert record.market is not None and len(record.market) == fingerprint.DIM
    assert record.text.startswith("ETH/BTC long closed +1.80% after 2h by roi")


HOLD_STORE = """
import sys
from freqtrade_mem0 import Memory
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.market import MarketSeries
memory = Memory.open(sys.argv[1], embedder=HashingEmbedder())
print("holding", flush=True)
sys.stdin.readline()
memory.close()
"""


def hold_store(location: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STORE, str(location)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    return holder


def wait_for(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_memories_wait_while_the_store_is_down_and_arrive_once(tmp_path: Path) -> None:
    # The store is up at start, then held by another process mid-run, then released.
    state = dry_run_memory(tmp_path)
    runtime = state.runtime
    assert runtime is not None
    runtime.close()  # let go of the store, as a crashed or restarted service would
    state.runtime = None
    holder = hold_store(tmp_path / "mem0")
    try:
        state = dry_run_memory(tmp_path)
        trades = [closed_trade(i, T0 + timedelta(hours=3 * i), 0.1 + 0.001 * i) for i in range(6)]
        for trade, exit_order in trades:
            state.on_fill(trade, exit_order, trade.close_date_utc)
            state.loop(datetime.now(UTC))  # the bot keeps looping; delivery keeps failing
        runtime = state.runtime
        assert runtime is not None
        time.sleep(0.5)
        assert runtime.outbox.pending == 6
        assert runtime.outbox.path is not None
        journal = sum(1 for _ in runtime.outbox.path.glob("*.jsonl"))
        assert journal >= 1  # what waits is on disk, not only in memory
    finally:
        holder.communicate("\n", timeout=30)
    assert wait_for(lambda: runtime.outbox.pending == 0)
    late, late_order = trades[0]
    state.on_fill(late, late_order, late.close_date_utc)  # a late duplicate of a delivered fill
    state.close()
    assert sorted(r.data["trade_id"] for r in stored(tmp_path)) == list(range(6))


def test_pending_memories_survive_a_restart(tmp_path: Path) -> None:
    holder = hold_store(tmp_path / "mem0")
    try:
        state = dry_run_memory(tmp_path)
        for i in range(3):
            trade, exit_order = closed_trade(i, T0 + timedelta(hours=3 * i), 0.101)
            state.on_fill(trade, exit_order, trade.close_date_utc)
        state.close()  # the bot stops while the store is still down
    finally:
        holder.communicate("\n", timeout=30)
    restarted = dry_run_memory(tmp_path)  # the journal is delivered by the next run
    runtime = restarted.runtime
    assert runtime is not None
    assert wait_for(lambda: runtime.outbox.pending == 0)
    restarted.close()
    assert len(stored(tmp_path)) == 3


def test_a_strategy_pickles_without_its_store_and_keeps_its_recall_index(tmp_path: Path) -> None:
    state = dry_run_memory(tmp_path, write_modes=["dry_run"])
    trade, exit_order = closed_trade(1, T0, 0.102)
    state.on_fill(trade, exit_order, T0 + timedelta(hours=2))
    copy = pickle.loads(pickle.dumps(state))
    assert copy.runtime is None
    assert len(copy.index) == 1
    result = copy.recall("ETH/BTC", T0 + timedelta(days=1), None, None, None)
    assert result.n == 1
    state.close()


def test_a_new_simulated_run_forgets_the_last_runs_trades(tmp_path: Path) -> None:
    config = {
        "runmode": "hyperopt",
        "user_data_dir": str(tmp_path),
        "mem0": {"embedder": "hashing"},
    }
    state = StrategyMemory(config)
    state.start(FakeStrategy(config))
    state.identity = state.identity.__class__(**{**state.identity.__dict__, "run_id": "epoch"})
    trade, exit_order = closed_trade(1, T0, 0.102)
    state.loop(T0)
    state.on_fill(trade, exit_order, T0 + timedelta(hours=2))
    assert len(state.index) == 1
    state.loop(T0 - timedelta(days=1))  # the clock went back: the next epoch started
    assert len(state.index) == 0
    state.close()
    assert not (tmp_path / "mem0-outbox").exists()  # hyperopt writes nothing by default


def test_hook_overrides_that_skip_super_are_named() -> None:
    class Base:
        def confirm_trade_entry(self, **kwargs: Any) -> bool:
            return True

    class Good(Mem0Mixin, Base):
        def confirm_trade_entry(self, **kwargs: Any) -> bool:
            return bool(super().confirm_trade_entry(**kwargs))

    class Forgetful(Mem0Mixin, Base):
        def confirm_trade_entry(self, **kwargs: Any) -> bool:
            return True

        def bot_start(self, **kwargs: Any) -> None:
            pass

    assert overrides_without_super(Good, Mem0Mixin) == []
    assert overrides_without_super(Forgetful, Mem0Mixin) == [
        "Forgetful.bot_start",
        "Forgetful.confirm_trade_entry",
    ]


def test_market_of_a_fill_is_the_last_closed_candle(tmp_path: Path) -> None:
    state = dry_run_memory(tmp_path)
    series = state.markets["ETH/BTC"]
    at = T0 + timedelta(minutes=2)  # inside the 12:00 candle: 11:55 is the last closed one
    row = series.index_at(at)
    assert row is not None
    closes = pd.to_datetime(series.close_times, utc=True)
    assert closes[row] == T0
    vector = series.vector_at(at)
    assert vector is not None
    assert np.array_equal(vector, series.vectors[row])
    state.close()


def backtest_memory(userdir: Path) -> StrategyMemory:
    config = {
        "runmode": "backtest",
        "user_data_dir": str(userdir),
        "exchange": {"name": "binance"},
        "mem0": {"embedder": "hashing"},
    }
    state = StrategyMemory(config)
    state.start(FakeStrategy(config))
    assert state.identity is not None
    state.identity = dataclasses.replace(state.identity, run_id="backtest-run")
    return state


def test_a_backtest_reads_past_trades_when_it_first_recalls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = dry_run_memory(tmp_path)  # a dry-run trade of the same strategy, already stored
    trade, exit_order = closed_trade(1, T0, 0.102)
    live.on_fill(trade, exit_order, T0 + timedelta(hours=2))
    live.close()
    loads: list[int] = []
    load_index = MemoryRuntime.load_index

    def counted(runtime: MemoryRuntime, index: Any, **kwargs: Any) -> int:
        loads.append(load_index(runtime, index, **kwargs))
        return loads[-1]

    monkeypatch.setattr(MemoryRuntime, "load_index", counted)
    state = backtest_memory(tmp_path)
    state.index_market(pd.read_feather(CANDLES / "ETH_BTC-5m.feather"), "ETH/BTC", "5m")
    trade, exit_order = closed_trade(2, T0 + timedelta(hours=6), 0.101)
    state.on_fill(trade, exit_order, T0 + timedelta(hours=8))
    assert loads == []  # nothing read from the store while no recall asked for it
    result = state.recall("ETH/BTC", T0 + timedelta(days=1), None, None, None)
    assert loads == [1]
    assert result.n == 2  # the stored dry-run trade and this run's own
    state.recall("ETH/BTC", T0 + timedelta(days=1), None, None, None)
    assert loads == [1]
    state.close()


def test_a_backtest_fingerprints_on_its_own_thread_with_the_same_numbers(tmp_path: Path) -> None:
    state = backtest_memory(tmp_path)
    frame = pd.read_feather(CANDLES / "ETH_BTC-5m.feather")
    state.index_market(frame, "ETH/BTC", "5m")
    assert any(t.name.startswith("mem0-fingerprint") for t in threading.enumerate())
    series = state.series("ETH/BTC")
    expected = MarketSeries.from_frame(frame, timedelta(minutes=5))
    assert series is not None
    assert np.array_equal(series.close_times, expected.close_times)
    assert np.array_equal(series.vectors, expected.vectors, equal_nan=True)
    assert np.array_equal(series.raw, expected.raw, equal_nan=True)
    assert state.series("SOL/BTC") is None  # never analysed
    state.close()
    assert wait_for(
        lambda: not any(t.name.startswith("mem0-fingerprint") for t in threading.enumerate())
    )


def test_a_fingerprint_that_fails_on_its_thread_leaves_the_pair_without_a_market(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(candles: Any) -> MarketSeries:
        raise FloatingPointError("overflow in a rolling window")

    monkeypatch.setattr(MarketSeries, "from_candles", broken)
    state = backtest_memory(tmp_path)
    state.index_market(pd.read_feather(CANDLES / "ETH_BTC-5m.feather"), "ETH/BTC", "5m")
    assert state.market("ETH/BTC", T0) is None
    assert "no market fingerprint for ETH/BTC: overflow in a rolling window" in caplog.text
    state.close()


def test_notes_and_live_performance_become_memories(tmp_path: Path) -> None:
    state = dry_run_memory(tmp_path)
    state.tick(T0)
    state.note("funding flipped negative on BTC perps", "ETH/BTC", {"metrics": {"funding": -0.01}})
    rates = (0.102, 0.097, 0.101)
    trades = [closed_trade(i, T0 + timedelta(hours=3 * i), r) for i, r in enumerate(rates)]
    metrics = performance_metrics([trade for trade, _ in trades], open_count=1)
    assert state.identity is not None
    assert state.runtime is not None
    state.runtime.put(performance_record(state.identity, metrics, T0, state.run_id()))
    state.close()
    with Memory.open(str(tmp_path / "mem0"), embedder=HashingEmbedder()) as memory:
        (note,) = memory.iterate("kind:analysis")
        (performance,) = memory.iterate("kind:performance")
    assert note.type.value == "analysis"
    assert note.pair == "ETH/BTC"
    assert note.metrics == {"funding": -0.01}
    assert note.market is not None
    assert performance.metrics["trades"] == 3
    assert performance.metrics["wins"] == 2
    assert performance.metrics["open_trades"] == 1
    profit = sum(trade.close_profit_abs for trade, _ in trades)
    assert performance.metrics["profit_abs"] == pytest.approx(profit)
    assert "3 closed trades, win rate 67%" in performance.text


def test_a_backtest_exit_fill_is_reported_closed_without_touching_freqtrades_trade() -> None:
    # Backtests call order_filled before freqtrade closes the trade: the facts close a copy.
    from freqtrade_mem0.trades import exit_fill_facts

    trade = open_trade(7, T0)
    exit_order = order("sell", 0.11, 0.5, T0 + timedelta(hours=1), "s7")
    trade.orders.append(exit_order)
    before = dict(vars(trade))
    facts = exit_fill_facts(trade, exit_order, T0 + timedelta(hours=1), settled=False)
    assert vars(trade) == before and trade.is_open and len(trade.orders) == 2
    closed, _ = closed_trade(7, T0, 0.11)
    assert facts.profit_ratio == pytest.approx(closed.close_profit, abs=1e-12)
    assert facts.profit_abs == pytest.approx(closed.close_profit_abs, abs=1e-12)
    assert facts.close_date == T0 + timedelta(hours=1)
