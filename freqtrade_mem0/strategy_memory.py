"""The memory side of one strategy instance: its clock, markets, trade memories and recall.

`Mem0Mixin` owns one `StrategyMemory` and calls it from freqtrade's hooks. Nothing here opens
a file or a connection before `start` (hyperopt pickles strategies into worker processes), and
nothing on the trade path waits for the store: memories are queued in the runtime's outbox.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import RecallSettings, Settings, load_settings
from freqtrade_mem0.market import Candles, MarketSeries
from freqtrade_mem0.memory import Hit
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode
from freqtrade_mem0.query import Node, and_, between, eq, parse
from freqtrade_mem0.recall import (
    RecallIndex,
    RecallResult,
    Scope,
    empty_result,
    recall_frame,
    scope_filter,
)
from freqtrade_mem0.records import MarketContext, TradeFacts, note_record, trade_record
from freqtrade_mem0.runtime import MemoryRuntime, RunIdentity
from freqtrade_mem0.trades import exit_fill_facts, is_exit_order, performance_metrics, run_mode_of

logger = logging.getLogger(__name__)

HOOKS = (
    "bot_start",
    "bot_loop_start",
    "confirm_trade_entry",
    "order_filled",
    "advise_indicators",
)


@lru_cache(maxsize=256)
def parsed_filter(query: str) -> Node | None:
    """A filter string parsed once (strategies pass the same few strings on every call)."""
    return parse(query).where


def overrides_without_super(strategy_class: type, mixin: type) -> list[str]:
    """`Class.hook` names of hook overrides below `mixin` whose source never calls super()."""
    found = []
    for name in HOOKS:
        owner = next((c for c in strategy_class.__mro__ if name in c.__dict__), None)
        if owner is None or owner is mixin or not issubclass(owner, mixin):
            continue
        try:
            source = inspect.getsource(owner.__dict__[name])
        except (OSError, TypeError):
            continue
        if "super(" not in source:
            found.append(f"{owner.__name__}.{name}")
    return found


class StrategyMemory:
    """Settings, simulated clock, market fingerprints and the runtime of one strategy."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings: Settings = load_settings(config.get("mem0"))
        self.mode = run_mode_of(config)
        self.real_time = self.mode.is_real_time  # live or dry-run: follows the wall clock
        self.runtime: MemoryRuntime | None = None  # built at start, never at import or pickling
        self.identity: RunIdentity | None = None
        self._index = RecallIndex(fingerprint.DIM)
        self._loaded: RecallIndex | None = None  # the index as loaded, before this run's trades
        # A backtest loads past trades when it first recalls, and indexes its own trades then:
        # a strategy that never recalls pays for neither. Live and dry-run load at start (no
        # store reads on a callback), hyperopt too (its workers get the index by pickling).
        self._load_on_first_recall = False
        self._unindexed: list[MemoryRecord] = []
        self.markets: dict[str, MarketSeries] = {}
        self._fingerprinting: dict[str, Future[MarketSeries]] = {}
        self._fingerprinter: ThreadPoolExecutor | None = None
        self.clock: datetime | None = None
        self.strategy: Any = None
        self._written: set[str] = set()
        self._next_performance: datetime | None = None
        self._scopes: dict[Scope | None, Node | None] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, strategy: Any) -> None:
        """Open the memory for `strategy` (at bot_start) and load past trades for recall."""
        self.strategy = strategy
        config: dict[str, Any] = strategy.config
        if getattr(strategy, "startup_candle_count", 0) < fingerprint.WARMUP:
            logger.info(
                "freqtrade-mem0: startup_candle_count < %d, so the first %d candles of a run "
                "have no market fingerprint",
                fingerprint.WARMUP,
                fingerprint.WARMUP,
            )
        live_id = f"{self.mode.value}:{config.get('bot_name') or 'freqtrade'}"
        identity = RunIdentity(
            strategy=type(strategy).__name__,
            mode=self.mode,
            run_id=live_id if self.real_time else None,
            exchange=config.get("exchange", {}).get("name"),
            timeframe=getattr(strategy, "timeframe", None),
            user_data_dir=Path(config.get("user_data_dir") or "user_data"),
        )
        self.identity = identity
        self.runtime = MemoryRuntime(self.settings, identity)
        if self.mode is RunMode.BACKTEST:
            self._load_on_first_recall = True
        else:
            self._load_past_trades()
        if not self.runtime.writes:
            # Hyperopt and the analyses only read, and they fork helper processes that would
            # inherit the open store, and with it its lock, for as long as they live.
            self.runtime.release_store()
        interval = self.settings.performance_interval_minutes
        if self.real_time and interval > 0:
            self._next_performance = datetime.now(UTC) + timedelta(minutes=interval)

    @property
    def index(self) -> RecallIndex:
        """The recall index: past trades from the store, and this run's trades so far."""
        if self._load_on_first_recall:
            self._load_on_first_recall = False
            self._load_past_trades()
        if self._unindexed:
            self._index.add(self._unindexed)
            self._unindexed = []
        return self._index

    def _load_past_trades(self) -> None:
        if self.runtime is None:
            return
        self.runtime.load_index(self._index, all_strategies=self.settings.recall.scope == "all")
        if not self.real_time:
            self._loaded = copy.deepcopy(self._index)

    def close(self) -> None:
        """Deliver what is pending and release the store."""
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            self._forget_stale_trades(runtime)
            runtime.close()
        if self._fingerprinter is not None:
            self._fingerprinter.shutdown(wait=False, cancel_futures=True)
            self._fingerprinter = None

    def _forget_stale_trades(self, runtime: MemoryRuntime) -> None:
        """After a backtest, this run id's trades are exactly the trades this run made.

        A rerun of the same config and strategy file has the same run id; if its trades differ
        (another version of this package, other memories recalled) the earlier ones must go.
        """
        run_id = self.identity.run_id if self.identity else None
        if self.mode is not RunMode.BACKTEST or not runtime.writes or run_id is None:
            return
        if not runtime.flush():
            return  # the store is unavailable: leave it as it is
        memory = runtime.memory()
        if memory is None:
            return
        mine = and_(eq("kind", "trade"), eq("strategy", runtime.identity.strategy))
        where = and_(mine, eq("run_id", run_id))
        stale = [found for found in memory.ids(where) if found not in self._written]
        if stale:
            memory.delete(stale)
            logger.info(
                "freqtrade-mem0: %d trades of an earlier run %s replaced", len(stale), run_id
            )

    def run_id(self) -> str | None:
        """This run's id: `<mode>:<bot_name>` live, freqtrade's backtest run id otherwise."""
        identity = self.identity
        if identity is None:
            return None
        if identity.run_id is None:
            # freqtrade's own run id (a hash of config and strategy), computed once the engine
            # has settled the config: result files carry the same id, so ingesting them later
            # finds these memories instead of doubling them.
            from freqtrade.optimize.backtest_caching import get_strategy_run_id

            self.identity = identity = dataclasses.replace(
                identity, run_id=get_strategy_run_id(self.strategy)
            )
            self._scopes.clear()
        return identity.run_id

    # -- hooks -----------------------------------------------------------------------------

    def tick(self, when: datetime) -> None:
        """Advance the clock (simulated in backtests) to `when`."""
        if self.clock is None or when > self.clock:
            self.clock = when

    def restart(self, when: datetime) -> None:
        """A new simulated run in this process (a hyperopt epoch): forget the last one's trades.

        Hyperopt runs many backtests on one strategy object; each must learn only from its own
        trades, as a backtest does.
        """
        loaded = self._loaded
        self._index = copy.deepcopy(loaded) if loaded is not None else RecallIndex(fingerprint.DIM)
        self._unindexed = []
        self._written.clear()
        self.clock = when

    def loop(self, when: datetime) -> None:
        """Once per loop (per candle in backtests): clock, live performance, delivery."""
        if not self.real_time:
            clock = self.clock
            if clock is None or when > clock:
                self.clock = when
            elif when < clock:
                self.restart(when)
            return
        self.tick(when)
        runtime = self.runtime
        if runtime is None:
            return
        if self._next_performance is not None and when >= self._next_performance:
            self.remember_performance(when)
        if runtime.outbox.pending:
            runtime.wake()

    def index_market(self, dataframe: pd.DataFrame, pair: str, timeframe: str) -> None:
        """Fingerprint every candle of an analyzed dataframe."""
        from freqtrade.exchange import timeframe_to_minutes

        step = timedelta(minutes=timeframe_to_minutes(timeframe))
        candles = Candles.of(dataframe, step)
        self.markets.pop(pair, None)
        if self.mode is not RunMode.BACKTEST:
            self.markets[pair] = MarketSeries.from_candles(candles)
            return
        # A backtest analyses every pair before its first trade closes: the fingerprints are
        # computed meanwhile on a thread of their own (numpy leaves the GIL to the engine).
        if self._fingerprinter is None:
            self._fingerprinter = ThreadPoolExecutor(1, thread_name_prefix="mem0-fingerprint")
        self._fingerprinting[pair] = self._fingerprinter.submit(MarketSeries.from_candles, candles)

    def series(self, pair: str) -> MarketSeries | None:
        """The fingerprints of `pair`'s analyzed candles (None if it was not analyzed)."""
        pending = self._fingerprinting.pop(pair, None)
        if pending is not None:
            try:
                self.markets[pair] = pending.result()
            except Exception as exc:  # the pair's trades are remembered without a market
                logger.warning("freqtrade-mem0: no market fingerprint for %s: %s", pair, exc)
        return self.markets.get(pair)

    def market(self, pair: str, when: datetime) -> MarketContext | None:
        """Market context of the last candle of `pair` closed by `when`."""
        series = self.series(pair)
        return None if series is None else series.context_at(when)

    def on_fill(self, trade: Any, order: Any, when: datetime) -> None:
        """An order filled: an exit (whole or partial) becomes a trade memory."""
        self.tick(when)
        if not is_exit_order(trade, order):
            return
        facts = exit_fill_facts(trade, order, when, settled=self.real_time)
        self.remember_trade(facts, self.market(trade.pair, when))

    def remember_trade(self, facts: TradeFacts, exit_market: MarketContext | None) -> None:
        """Queue a trade memory and let recall see it from its close time on."""
        identity = self.identity
        if identity is None:
            return
        use_markets = self.settings.market_fingerprint
        record = trade_record(
            facts,
            strategy=identity.strategy,
            mode=self.mode,
            run_id=self.run_id(),
            timeframe=identity.timeframe,
            exchange=identity.exchange,
            entry=self.market(facts.pair, facts.open_date) if use_markets else None,
            exit=exit_market if use_markets else None,
        )
        if record.id in self._written:  # a repeated fill is one memory
            return
        self._written.add(record.id)
        self._unindexed.append(record)
        if self.runtime is not None:  # absent in hyperopt workers, which never write
            self.runtime.put(record)

    # -- recall and search -----------------------------------------------------------------

    def scope(self, scope: Scope | None) -> Node | None:
        """The filter a scope stands for (default: `strategy` live/dry, `run` simulated)."""
        if scope not in self._scopes:
            assert self.identity is not None
            chosen = scope or self.settings.recall.scope
            if chosen is None:
                chosen = "strategy" if self.real_time else "run"
            node = scope_filter(chosen, self.identity.strategy, self.run_id())
            self._scopes[scope] = node
        return self._scopes[scope]

    def recall_settings(self, k: int | None) -> RecallSettings:
        settings = self.settings.recall
        return settings if k is None else settings.model_copy(update={"k": k})

    def recall(
        self, pair: str, when: datetime, k: int | None, scope: Scope | None, filters: str | None
    ) -> RecallResult:
        """Past trades in conditions like `pair`'s at `when`, known before `when`."""
        if self.identity is None:
            return empty_result(when, "recall used before bot_start")
        self.tick(when)
        series = self.series(pair)
        return self.index.recall(
            series.vector_at(when) if series is not None else None,
            when,
            where=parsed_filter(filters) if filters else None,
            scope=self.scope(scope),
            settings=self.recall_settings(k),
        )

    def recall_frame(
        self,
        dataframe: pd.DataFrame,
        pair: str,
        timeframe: str,
        k: int | None,
        scope: Scope | None,
        filters: str | None,
    ) -> pd.DataFrame:
        """Recall columns per candle, each row seeing only memories before its candle closed."""
        if self.identity is None:
            raise RuntimeError("mem0_recall_frame used before bot_start")
        series = self.series(pair)
        if series is None or len(series.close_times) != len(dataframe):
            self.index_market(dataframe, pair, timeframe)
            series = self.series(pair)
            if series is None:  # its fingerprinting failed (logged): the caller fills NaN
                raise RuntimeError(f"no market fingerprint for {pair}")
        return recall_frame(
            self.index,
            series.vectors,
            series.close_times / 1e9,
            where=parsed_filter(filters) if filters else None,
            scope=self.scope(scope),
            settings=self.recall_settings(k),
        )

    def search(
        self,
        text: str,
        when: datetime | None,
        filters: str | None,
        scope: Scope | None,
        limit: int,
    ) -> list[Hit]:
        """Semantic search, point-in-time in simulated modes (reads the store)."""
        runtime = self.runtime
        if runtime is None:
            return []
        if not self.real_time:
            if when is None:
                raise ValueError("mem0_search needs current_time in a backtest")
            runtime.flush()  # this run's own trades must be searchable too
        memory = runtime.memory()
        if memory is None:
            return []
        before = between("timestamp", lt=when) if when is not None else None
        where = and_(parsed_filter(filters) if filters else None, self.scope(scope), before)
        return memory.search(text, where=where, limit=limit)

    # -- notes and performance -------------------------------------------------------------

    def note(self, text: str, pair: str | None, metadata: dict[str, Any]) -> None:
        """Queue an analysis memory written by strategy code."""
        runtime = self.runtime
        if runtime is None:
            raise RuntimeError("mem0_note called before bot_start")
        when = self.clock if not self.real_time else datetime.now(UTC)
        market = self.market(pair, when) if pair and when else None
        runtime.put(
            note_record(
                text,
                strategy=runtime.identity.strategy,
                timestamp=when or datetime.now(UTC),
                mode=self.mode,
                run_id=self.run_id(),
                pair=pair,
                metrics=metadata.pop("metrics", None),
                tags=tuple(metadata.pop("tags", ())),
                data=metadata,
                market=market.vector if market else None,
            )
        )

    def remember_performance(self, now: datetime) -> None:
        """Queue a live/dry performance memory: closed trades, profit, win rate, drawdown."""
        from freqtrade.persistence import Trade

        runtime = self.runtime
        assert runtime is not None
        open_count = len(Trade.get_trades_proxy(is_open=True))
        metrics = performance_metrics(Trade.get_trades_proxy(is_open=False), open_count)
        runtime.put(performance_record(runtime.identity, metrics, now, self.run_id()))
        interval = timedelta(minutes=self.settings.performance_interval_minutes)
        self._next_performance = now + interval

    def __getstate__(self) -> dict[str, Any]:
        # Hyperopt pickles strategies into worker processes: leave open files and threads out.
        for pair in list(self._fingerprinting):
            self.series(pair)
        state = self.__dict__.copy()
        state["_fingerprinter"] = None
        state["runtime"] = None
        state["strategy"] = None
        return state


def performance_record(
    identity: RunIdentity, metrics: dict[str, float], now: datetime, run_id: str | None
) -> MemoryRecord:
    """A live/dry performance memory from `trades.performance_metrics`."""
    text = (
        f"{identity.strategy} {identity.mode.value} performance: "
        f"{metrics['trades']:.0f} closed trades, win rate {metrics['win_rate']:.0%}, "
        f"profit {metrics['profit_abs']:+.8f}, max drawdown {metrics['drawdown_abs']:.8f}, "
        f"{metrics['open_trades']:.0f} open"
    )
    return note_record(
        text,
        strategy=identity.strategy,
        timestamp=now,
        kind=MemoryKind.PERFORMANCE,
        type=MemoryType.LIVE,
        mode=identity.mode,
        run_id=run_id,
        metrics=metrics,
    )


def nan_frame(rows: int, columns: tuple[str, ...]) -> pd.DataFrame:
    """Recall columns with nothing known (what a failed vectorised recall returns)."""
    return pd.DataFrame(np.nan, index=range(rows), columns=list(columns))
