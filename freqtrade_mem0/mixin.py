"""`Mem0Mixin`: gives a freqtrade strategy a memory.

    class MyStrategy(Mem0Mixin, IStrategy):
        ...

Every closed trade becomes a memory with the market conditions at entry and exit. The mixin is
cooperative: each hook calls `super()` first and returns what the strategy decided; everything it
adds is named `mem0_*`. Memory never breaks trading: each hook's memory work is guarded (an error
is logged once, the strategy's result returned), and writes only enqueue.

If your strategy overrides `bot_start`, `bot_loop_start`, `confirm_trade_entry`,
`confirm_trade_exit`, `order_filled` or `advise_indicators`, call `super()` in it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import RecallSettings, Settings, load_settings
from freqtrade_mem0.market import MarketSeries
from freqtrade_mem0.memory import Hit
from freqtrade_mem0.models import MemoryKind, MemoryType, RunMode
from freqtrade_mem0.query import Node, and_, between, parse
from freqtrade_mem0.recall import (
    FRAME_COLUMNS,
    RecallResult,
    Scope,
    recall_frame,
    scope_filter,
)
from freqtrade_mem0.recall.index import empty_result
from freqtrade_mem0.records import MarketContext, note_record, trade_record
from freqtrade_mem0.runtime import MemoryRuntime, RunIdentity
from freqtrade_mem0.trades import exit_fill_facts, is_exit_order, performance_metrics, run_mode_of

logger = logging.getLogger(__name__)

_HOOKS = (
    "bot_start",
    "bot_loop_start",
    "confirm_trade_entry",
    "confirm_trade_exit",
    "order_filled",
    "advise_indicators",
)


class Mem0Mixin:
    """Remember every trade; recall how past trades did in similar market conditions."""

    mem0_settings: Settings
    mem0_mode: RunMode
    mem0_runtime: MemoryRuntime | None
    mem0_markets: dict[str, MarketSeries]
    mem0_clock: datetime | None

    def __init__(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)  # type: ignore[call-arg]
        self.mem0_settings = load_settings(config.get("mem0"))
        self.mem0_mode = run_mode_of(config)
        self.mem0_runtime = None  # built at bot_start: nothing is opened at import or pickling
        self.mem0_markets = {}
        self.mem0_clock = None
        self._mem0_written: set[str] = set()
        self._mem0_errors: set[str] = set()
        self._mem0_next_performance: datetime | None = None

    # -- freqtrade hooks -------------------------------------------------------------------

    def bot_start(self, **kwargs: Any) -> None:
        super().bot_start(**kwargs)  # type: ignore[misc]
        self._mem0_guard("bot_start", self._mem0_start)

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        super().bot_loop_start(current_time=current_time, **kwargs)  # type: ignore[misc]
        self._mem0_guard("bot_loop_start", self._mem0_loop, current_time)

    def advise_indicators(self, dataframe: Any, metadata: dict[str, Any]) -> Any:
        dataframe = super().advise_indicators(dataframe, metadata)  # type: ignore[misc]
        self._mem0_guard("advise_indicators", self._mem0_index_market, dataframe, metadata)
        return dataframe

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        decision: bool = super().confirm_trade_entry(  # type: ignore[misc]
            pair=pair,
            order_type=order_type,
            amount=amount,
            rate=rate,
            time_in_force=time_in_force,
            current_time=current_time,
            entry_tag=entry_tag,
            side=side,
            **kwargs,
        )
        self._mem0_guard("confirm_trade_entry", self._mem0_tick, current_time)
        return decision

    def confirm_trade_exit(
        self,
        pair: str,
        trade: Any,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        exit_reason: str,
        current_time: datetime,
        **kwargs: Any,
    ) -> bool:
        decision: bool = super().confirm_trade_exit(  # type: ignore[misc]
            pair=pair,
            trade=trade,
            order_type=order_type,
            amount=amount,
            rate=rate,
            time_in_force=time_in_force,
            exit_reason=exit_reason,
            current_time=current_time,
            **kwargs,
        )
        self._mem0_guard("confirm_trade_exit", self._mem0_tick, current_time)
        return decision

    def order_filled(
        self, pair: str, trade: Any, order: Any, current_time: datetime, **kwargs: Any
    ) -> None:
        super().order_filled(  # type: ignore[misc]
            pair=pair, trade=trade, order=order, current_time=current_time, **kwargs
        )
        self._mem0_guard("order_filled", self._mem0_on_fill, trade, order, current_time)

    # -- public API ------------------------------------------------------------------------

    def mem0_note(self, text: str, *, pair: str | None = None, **metadata: Any) -> None:
        """Store an analysis memory (type `analysis`) from strategy code.

        Args:
            text: the observation, e.g. "funding flipped negative on BTC perps".
            pair: the pair it concerns, if any.
            **metadata: `metrics` (a dict of numbers), `tags` (a tuple), anything else is kept.
        """
        self._mem0_guard("mem0_note", self._mem0_note, text, pair, metadata)

    def mem0_recall(
        self,
        pair: str,
        current_time: datetime,
        *,
        k: int | None = None,
        scope: Scope | None = None,
        filters: str | None = None,
    ) -> RecallResult:
        """How past trades did in market conditions like `pair`'s now.

        Uses the fingerprint of the last candle closed by `current_time` and sees only
        memories known before `current_time` (the simulated clock in backtests).

        Args:
            pair: the pair whose market conditions to match.
            current_time: the callback's `current_time`.
            k: neighbours (default: the `recall.k` setting).
            scope: `run` (default in backtests: this run's trades plus live/dry ones),
                `strategy` (default live/dry: every trade of this strategy) or `all`.
            filters: a query, e.g. `pair:ADA/BTC AND side:long`.

        Returns:
            A `RecallResult`; check `.sufficient` before acting on it. Never raises: on any
            problem the result is insufficient and `.reason` says why.
        """
        result = self._mem0_guard(
            "mem0_recall", self._mem0_recall, pair, current_time, k, scope, filters
        )
        if result is None:
            return empty_result(current_time, "recall unavailable (see the log)")
        return result

    def mem0_recall_frame(
        self,
        dataframe: pd.DataFrame,
        metadata: dict[str, Any],
        *,
        k: int | None = None,
        scope: Scope | None = None,
        filters: str | None = None,
    ) -> pd.DataFrame:
        """Add recall columns (`mem0_n`, `mem0_win_rate`, bounds, expectancy, dissimilarity) per
        candle, each row using only memories known before that candle closed.

        In a backtest, `populate_*` runs once before the first simulated candle, so the current
        run's own trades cannot appear here; use `mem0_recall` in callbacks for those.
        """
        columns = self._mem0_guard(
            "mem0_recall_frame", self._mem0_recall_frame, dataframe, metadata, k, scope, filters
        )
        if columns is None:
            columns = pd.DataFrame(np.nan, index=range(len(dataframe)), columns=list(FRAME_COLUMNS))
        for name in FRAME_COLUMNS:
            dataframe[name] = columns[name].to_numpy()
        return dataframe

    def mem0_search(
        self,
        text: str,
        *,
        current_time: datetime | None = None,
        filters: str | None = None,
        scope: Scope | None = None,
        limit: int = 10,
    ) -> list[Hit]:
        """Semantic search over memories' text, point-in-time in simulated modes.

        Example: `self.mem0_search("losing longs after a volume spike", filters="side:long")`.
        Unlike recall this reads the store, so call it sparingly (not on every candle).
        """
        hits = self._mem0_guard(
            "mem0_search", self._mem0_search, text, current_time, filters, scope, limit
        )
        return hits or []

    def mem0_market(self, pair: str, when: datetime) -> MarketContext | None:
        """Market context (fingerprint, description) of the last candle closed by `when`."""
        series = self.mem0_markets.get(pair)
        return None if series is None else series.context_at(when)

    def mem0_flush(self) -> bool:
        """Deliver every pending memory now (e.g. at the end of a backtest)."""
        return self.mem0_runtime.flush() if self.mem0_runtime is not None else True

    def mem0_close(self) -> None:
        """Deliver what is pending and release the store (the end of a backtest calls this)."""
        runtime, self.mem0_runtime = self.mem0_runtime, None
        if runtime is not None:
            runtime.close()

    # -- internals -------------------------------------------------------------------------

    def _mem0_guard(self, where: str, action: Callable[..., Any], *args: Any) -> Any:
        """Run memory work so that no error of ours ever reaches the bot."""
        if not self.mem0_settings.enabled:
            return None
        try:
            return action(*args)
        except Exception as exc:
            key = f"{where}:{type(exc).__name__}:{exc}"
            if key not in self._mem0_errors:  # log each distinct failure once
                self._mem0_errors.add(key)
                logger.warning(
                    "freqtrade-mem0 %s failed (trading continues): %s",
                    where,
                    exc,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
            return None

    def _mem0_start(self) -> None:
        config: dict[str, Any] = self.config  # type: ignore[attr-defined]
        self._mem0_warn_missing_super()
        warmup = fingerprint.WARMUP
        if getattr(self, "startup_candle_count", 0) < warmup:
            logger.info(
                "freqtrade-mem0: startup_candle_count < %d, so the first %d candles of a run "
                "have no market fingerprint",
                warmup,
                warmup,
            )
        identity = RunIdentity(
            strategy=type(self).__name__,
            mode=self.mem0_mode,
            run_id=None if not self.mem0_mode.is_real_time else self._mem0_live_run_id(config),
            exchange=config.get("exchange", {}).get("name"),
            timeframe=getattr(self, "timeframe", None),
            user_data_dir=Path(config.get("user_data_dir") or "user_data"),
        )
        self.mem0_runtime = MemoryRuntime(self.mem0_settings, identity)
        self.mem0_runtime.load_index(all_strategies=self.mem0_settings.recall.scope == "all")
        if self.mem0_mode.is_real_time:
            interval = self.mem0_settings.performance_interval_minutes
            if interval > 0:
                self._mem0_next_performance = datetime.now(UTC) + timedelta(minutes=interval)

    def _mem0_live_run_id(self, config: dict[str, Any]) -> str:
        return f"{self.mem0_mode.value}:{config.get('bot_name') or 'freqtrade'}"

    def _mem0_run_id(self) -> str | None:
        runtime = self.mem0_runtime
        if runtime is None:
            return None
        if runtime.identity.run_id is None:
            # freqtrade's own run id (a hash of config and strategy), computed once the engine
            # has settled the config: result files carry the same id, so ingesting them later
            # finds these memories instead of doubling them.
            from freqtrade.optimize.backtest_caching import get_strategy_run_id

            identity = runtime.identity
            runtime.identity = RunIdentity(
                identity.strategy,
                identity.mode,
                get_strategy_run_id(self),
                identity.exchange,
                identity.timeframe,
                identity.user_data_dir,
            )
        return runtime.identity.run_id

    def _mem0_warn_missing_super(self) -> None:
        for name in _HOOKS:
            method = getattr(type(self), name, None)
            owner = next((c for c in type(self).__mro__ if name in c.__dict__), None)
            if owner is None or owner is Mem0Mixin or not issubclass(owner, Mem0Mixin):
                continue
            try:
                source = inspect.getsource(method)  # type: ignore[arg-type]
            except (OSError, TypeError):
                continue
            if "super(" not in source:
                logger.warning(
                    "freqtrade-mem0: %s.%s does not call super(); the memory will miss what "
                    "that hook reports",
                    owner.__name__,
                    name,
                )

    def _mem0_tick(self, current_time: datetime) -> None:
        if self.mem0_clock is None or current_time > self.mem0_clock:
            self.mem0_clock = current_time

    def _mem0_loop(self, current_time: datetime) -> None:
        self._mem0_tick(current_time)
        runtime = self.mem0_runtime
        if runtime is None or not self.mem0_mode.is_real_time:
            return
        if self._mem0_next_performance is not None and current_time >= self._mem0_next_performance:
            self._mem0_performance(current_time)
        if runtime.outbox.pending:
            runtime.wake()

    def _mem0_index_market(self, dataframe: Any, metadata: dict[str, Any]) -> None:
        from freqtrade.exchange import timeframe_to_minutes

        timeframe = timedelta(minutes=timeframe_to_minutes(self.timeframe))  # type: ignore[attr-defined]
        self.mem0_markets[metadata["pair"]] = MarketSeries.from_frame(dataframe, timeframe)

    def _mem0_on_fill(self, trade: Any, order: Any, current_time: datetime) -> None:
        self._mem0_tick(current_time)
        if not is_exit_order(trade, order):
            return
        facts = exit_fill_facts(trade, order, current_time, settled=self.mem0_mode.is_real_time)
        self._mem0_remember_trade(facts, self.mem0_market(trade.pair, current_time))

    def _mem0_remember_trade(self, facts: Any, exit_market: MarketContext | None) -> None:
        runtime = self.mem0_runtime
        if runtime is None:
            return
        entry = self.mem0_market(facts.pair, facts.open_date)
        use_markets = self.mem0_settings.market_fingerprint
        record = trade_record(
            facts,
            strategy=runtime.identity.strategy,
            mode=self.mem0_mode,
            run_id=self._mem0_run_id(),
            timeframe=runtime.identity.timeframe,
            exchange=runtime.identity.exchange,
            entry=entry if use_markets else None,
            exit=exit_market if use_markets else None,
        )
        if record.id in self._mem0_written:  # a repeated fill is one memory
            return
        self._mem0_written.add(record.id)
        runtime.put(record)
        self._mem0_on_trade_memory(record)

    def _mem0_on_trade_memory(self, record: Any) -> None:
        if self.mem0_runtime is not None:
            self.mem0_runtime.index.add([record])

    def _mem0_scope(self, scope: Scope | None) -> Node | None:
        runtime = self.mem0_runtime
        assert runtime is not None
        chosen = scope or self.mem0_settings.recall.scope
        if chosen is None:
            chosen = "strategy" if self.mem0_mode.is_real_time else "run"
        return scope_filter(chosen, runtime.identity.strategy, self._mem0_run_id())

    def _mem0_recall_settings(self, k: int | None) -> RecallSettings:
        settings = self.mem0_settings.recall
        return settings if k is None else settings.model_copy(update={"k": k})

    def _mem0_recall(
        self, pair: str, when: datetime, k: int | None, scope: Scope | None, filters: str | None
    ) -> RecallResult:
        runtime = self.mem0_runtime
        if runtime is None:
            return empty_result(when, "recall used before bot_start")
        self._mem0_tick(when)
        series = self.mem0_markets.get(pair)
        vector = series.vector_at(when) if series is not None else None
        return runtime.index.recall(
            vector,
            when,
            where=parse(filters).where if filters else None,
            scope=self._mem0_scope(scope),
            settings=self._mem0_recall_settings(k),
        )

    def _mem0_recall_frame(
        self,
        dataframe: pd.DataFrame,
        metadata: dict[str, Any],
        k: int | None,
        scope: Scope | None,
        filters: str | None,
    ) -> pd.DataFrame:
        runtime = self.mem0_runtime
        if runtime is None:
            raise RuntimeError("mem0_recall_frame used before bot_start")
        series = self.mem0_markets.get(metadata["pair"])
        if series is None or len(series.close_times) != len(dataframe):
            self._mem0_index_market(dataframe, metadata)
            series = self.mem0_markets[metadata["pair"]]
        return recall_frame(
            runtime.index,
            series.vectors,
            series.close_times / 1e9,
            where=parse(filters).where if filters else None,
            scope=self._mem0_scope(scope),
            settings=self._mem0_recall_settings(k),
        )

    def _mem0_search(
        self,
        text: str,
        when: datetime | None,
        filters: str | None,
        scope: Scope | None,
        limit: int,
    ) -> list[Hit]:
        runtime = self.mem0_runtime
        if runtime is None:
            return []
        if not self.mem0_mode.is_real_time:
            if when is None:
                raise ValueError("mem0_search needs current_time in a backtest")
            runtime.flush()  # this run's own trades must be searchable too
        memory = runtime.memory()
        if memory is None:
            return []
        before = between("timestamp", lt=when) if when is not None else None
        where = and_(parse(filters).where if filters else None, self._mem0_scope(scope), before)
        return memory.search(text, where=where, limit=limit)

    def _mem0_note(self, text: str, pair: str | None, metadata: dict[str, Any]) -> None:
        runtime = self.mem0_runtime
        if runtime is None:
            raise RuntimeError("mem0_note called before bot_start")
        when = self.mem0_clock if not self.mem0_mode.is_real_time else datetime.now(UTC)
        market = self.mem0_market(pair, when) if pair and when else None
        record = note_record(
            text,
            strategy=runtime.identity.strategy,
            timestamp=when or datetime.now(UTC),
            mode=self.mem0_mode,
            run_id=self._mem0_run_id(),
            pair=pair,
            metrics=metadata.pop("metrics", None),
            tags=tuple(metadata.pop("tags", ())),
            data=metadata,
            market=market.vector if market else None,
        )
        runtime.put(record)

    def _mem0_performance(self, now: datetime) -> None:
        from freqtrade.persistence import Trade

        runtime = self.mem0_runtime
        assert runtime is not None
        closed = Trade.get_trades_proxy(is_open=False)
        open_count = len(Trade.get_trades_proxy(is_open=True))
        metrics = performance_metrics(closed, open_count)
        text = (
            f"{runtime.identity.strategy} {self.mem0_mode.value} performance: "
            f"{metrics['trades']:.0f} closed trades, win rate {metrics['win_rate']:.0%}, "
            f"profit {metrics['profit_abs']:+.8f}, max drawdown {metrics['drawdown_abs']:.8f}, "
            f"{open_count} open"
        )
        record = note_record(
            text,
            strategy=runtime.identity.strategy,
            timestamp=now,
            kind=MemoryKind.PERFORMANCE,
            type=MemoryType.LIVE,
            mode=self.mem0_mode,
            run_id=self._mem0_run_id(),
            metrics=metrics,
        )
        runtime.put(record)
        interval = timedelta(minutes=self.mem0_settings.performance_interval_minutes)
        self._mem0_next_performance = now + interval

    def __getstate__(self) -> dict[str, Any]:
        # Hyperopt pickles strategies into worker processes: leave open files and threads out.
        state = self.__dict__.copy()
        state["mem0_runtime"] = None
        return state
