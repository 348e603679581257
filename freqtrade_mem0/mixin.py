"""`Mem0Mixin`: gives a freqtrade strategy a memory.

    class MyStrategy(Mem0Mixin, IStrategy):
        ...

Every closed trade becomes a memory with the market conditions at entry and exit. The mixin is
cooperative: each hook calls `super()` first and returns what the strategy decided; everything it
adds is named `mem0_*`. Memory never breaks trading: each hook's memory work is guarded (an error
is logged once, the strategy's result returned), and writes only enqueue.

If your strategy overrides `bot_start`, `bot_loop_start`, `confirm_trade_entry`, `order_filled`
or `advise_indicators`, call `super()` in it.

The exit is read where freqtrade reports every one of them, `order_filled` (confirm_trade_exit
misses partial exits, liquidations and the force exits that end a backtest), and the mixin does
not override `confirm_trade_exit` at all: freqtrade deep-copies the trade for every strategy
callback that receives one, which a backtest would pay at every exit signal.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from freqtrade_mem0.config import Settings
from freqtrade_mem0.memory import Hit
from freqtrade_mem0.models import RunMode
from freqtrade_mem0.recall import FRAME_COLUMNS, RecallResult, Scope, empty_result
from freqtrade_mem0.records import MarketContext
from freqtrade_mem0.strategy_memory import StrategyMemory, nan_frame, overrides_without_super

logger = logging.getLogger(__name__)


def release_builtins_from_pickle_by_value() -> None:
    """Undo one side effect of freqtrade's hyperopt on strategies with a mixin.

    To let strategies inherit across files, hyperopt registers the module of every base class
    below IStrategy for pickling by value. A mixin's bases end at `object`, so `builtins` gets
    registered too, and pickling the strategy into the workers then recurses without end.
    Nothing in `builtins` can be pickled by value: unregistering it only removes the failure.
    """
    import builtins

    import cloudpickle  # type: ignore[import-untyped]

    # ValueError: not registered (not in hyperopt, or freqtrade no longer does it)
    with contextlib.suppress(ValueError):
        cloudpickle.unregister_pickle_by_value(builtins)


class Mem0Mixin:
    """Remember every trade; recall how past trades did in similar market conditions."""

    mem0_state: StrategyMemory

    def __init__(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)  # type: ignore[call-arg]
        self.mem0_state = StrategyMemory(config)  # no I/O: the store opens at bot_start
        self._mem0_errors: set[str] = set()

    # -- freqtrade hooks -------------------------------------------------------------------

    def bot_start(self, **kwargs: Any) -> None:
        super().bot_start(**kwargs)  # type: ignore[misc]
        self._mem0_guard("bot_start", self._mem0_start)

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        super().bot_loop_start(current_time=current_time, **kwargs)  # type: ignore[misc]
        self._mem0_guard("bot_loop_start", self.mem0_state.loop, current_time)

    def advise_indicators(self, dataframe: Any, metadata: dict[str, Any]) -> Any:
        dataframe = super().advise_indicators(dataframe, metadata)  # type: ignore[misc]
        self._mem0_guard(
            "advise_indicators",
            self.mem0_state.index_market,
            dataframe,
            metadata["pair"],
            self.timeframe,  # type: ignore[attr-defined]
        )
        if self.mem0_state.mode is RunMode.HYPEROPT:  # indicators run after hyperopt's set-up
            release_builtins_from_pickle_by_value()
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
        self._mem0_guard("confirm_trade_entry", self.mem0_state.tick, current_time)
        return decision

    def order_filled(
        self, pair: str, trade: Any, order: Any, current_time: datetime, **kwargs: Any
    ) -> None:
        super().order_filled(  # type: ignore[misc]
            pair=pair, trade=trade, order=order, current_time=current_time, **kwargs
        )
        self._mem0_guard("order_filled", self.mem0_state.on_fill, trade, order, current_time)

    # -- public API ------------------------------------------------------------------------

    def mem0_note(self, text: str, *, pair: str | None = None, **metadata: Any) -> None:
        """Store an analysis memory (type `analysis`) from strategy code.

        Args:
            text: the observation, e.g. "funding flipped negative on BTC perps".
            pair: the pair it concerns, if any.
            **metadata: `metrics` (a dict of numbers), `tags` (a tuple), anything else is kept.
        """
        self._mem0_guard("mem0_note", self.mem0_state.note, text, pair, metadata)

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
            "mem0_recall", self.mem0_state.recall, pair, current_time, k, scope, filters
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
            "mem0_recall_frame",
            self.mem0_state.recall_frame,
            dataframe,
            metadata["pair"],
            self.timeframe,  # type: ignore[attr-defined]
            k,
            scope,
            filters,
        )
        if columns is None:
            columns = nan_frame(len(dataframe), FRAME_COLUMNS)
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
            "mem0_search", self.mem0_state.search, text, current_time, filters, scope, limit
        )
        return hits or []

    def mem0_market(self, pair: str, when: datetime) -> MarketContext | None:
        """Market context (fingerprint, description) of the last candle closed by `when`."""
        return self.mem0_state.market(pair, when)

    def mem0_flush(self) -> bool:
        """Deliver every pending memory now (e.g. at the end of a backtest)."""
        runtime = self.mem0_state.runtime
        return runtime.flush() if runtime is not None else True

    def mem0_close(self) -> None:
        """Deliver what is pending and release the store (the end of a backtest calls this)."""
        self.mem0_state.close()

    @property
    def mem0_settings(self) -> Settings:
        """The validated `"mem0"` section of the config."""
        return self.mem0_state.settings

    @property
    def mem0_mode(self) -> RunMode:
        """The run mode the memory sees (live, dry_run, backtest, hyperopt or other)."""
        return self.mem0_state.mode

    @property
    def mem0_run_id(self) -> str | None:
        """This run's id in memories (freqtrade's run id in backtests); None before bot_start."""
        return self.mem0_state.run_id()

    # -- internals -------------------------------------------------------------------------

    def _mem0_guard(self, where: str, action: Callable[..., Any], *args: Any) -> Any:
        """Run memory work so that no error of ours ever reaches the bot."""
        if not self.mem0_state.settings.enabled:
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
        for hook in overrides_without_super(type(self), Mem0Mixin):
            logger.warning(
                "freqtrade-mem0: %s does not call super(); the memory misses what it reports", hook
            )
        self.mem0_state.start(self)
