"""Reading freqtrade's Trade and Order objects (live `Trade` and backtest `LocalTrade` alike)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from freqtrade_mem0.models import RunMode
from freqtrade_mem0.records import TradeFacts


def run_mode_of(config: dict[str, Any]) -> RunMode:
    """freqtrade's run mode, reduced: utility and analysis commands count as `other`."""
    value = str(getattr(config.get("runmode"), "value", config.get("runmode") or "other"))
    try:
        return RunMode(value)
    except ValueError:
        return RunMode.OTHER


def is_exit_order(trade: Any, order: Any) -> bool:
    """An order that reduces or closes the position."""
    return bool(order.ft_order_side == trade.exit_side)


def exit_fill_facts(trade: Any, order: Any, when: datetime, *, settled: bool) -> TradeFacts:
    """What one filled exit order made: the whole trade, or one partial exit of it.

    Live and dry-run call `order_filled` after freqtrade has updated the trade (`settled`), so
    an exit that leaves it open is partial. Backtests call it before: the trade is still open
    and unchanged, so freqtrade's own test decides (the fill covers the whole position or not),
    and a full exit is closed, as freqtrade is about to, on a copy.
    """
    if settled:
        if trade.is_open:
            return partial_exit_facts(trade, order, when)
        return closed_trade_facts(trade)
    if not trade.is_open:
        return closed_trade_facts(trade)
    if order.safe_amount_after_fee != trade.amount:
        return partial_exit_facts(trade, order, when)
    # Callbacks may get freqtrade's own object: never touch it. A shallow copy is enough:
    # closing reassigns the trade's own attributes and only reads its orders.
    closing = copy.copy(trade)
    closing.close_date = when
    closing.close(order.ft_price, show_msg=False)
    return closed_trade_facts(closing)


def closed_trade_facts(trade: Any) -> TradeFacts:
    """A fully closed trade, as freqtrade itself reports it."""
    return TradeFacts(
        pair=trade.pair,
        is_short=bool(trade.is_short),
        open_date=trade.open_date_utc,
        close_date=trade.close_date_utc,
        open_rate=float(trade.open_rate),
        close_rate=float(trade.close_rate or 0.0),
        profit_ratio=float(trade.close_profit or 0.0),
        profit_abs=float(trade.close_profit_abs or 0.0),
        stake_amount=float(trade.max_stake_amount or trade.stake_amount or 0.0),
        amount=float(trade.amount or 0.0),
        leverage=float(trade.leverage or 1.0),
        enter_tag=trade.enter_tag or None,
        exit_reason=trade.exit_reason or None,
        max_rate=_finite_or_none(trade.max_rate),
        min_rate=_finite_or_none(trade.min_rate),
        trade_id=trade.id if isinstance(trade.id, int) else None,
    )


def partial_exit_facts(trade: Any, order: Any, when: datetime) -> TradeFacts:
    """One partial exit of a trade that stays open: the slice it sold and what that made."""
    amount = float(order.safe_amount_after_fee)
    profit = trade.calculate_profit(float(order.safe_price), amount, float(trade.open_rate))
    exits = sum(1 for o in trade.orders if is_exit_order(trade, o) and o.filled)
    return TradeFacts(
        pair=trade.pair,
        is_short=bool(trade.is_short),
        open_date=trade.open_date_utc,
        close_date=when,
        open_rate=float(trade.open_rate),
        close_rate=float(order.safe_price),
        profit_ratio=float(profit.profit_ratio),
        profit_abs=float(profit.profit_abs),
        stake_amount=amount * float(trade.open_rate) / float(trade.leverage or 1.0),
        amount=amount,
        leverage=float(trade.leverage or 1.0),
        enter_tag=trade.enter_tag or None,
        exit_reason=order.ft_order_tag or "partial_exit",
        max_rate=_finite_or_none(trade.max_rate),
        min_rate=_finite_or_none(trade.min_rate),
        trade_id=trade.id if isinstance(trade.id, int) else None,
        partial_exit=max(exits, 1),
    )


def performance_metrics(closed: Sequence[Any], open_count: int) -> dict[str, float]:
    """Closed-trade performance so far: count, profit, win rate and drawdown."""
    profits = sorted(
        (
            (t.close_date_utc, float(t.close_profit_abs or 0.0), float(t.close_profit or 0.0))
            for t in closed
        ),
        key=lambda item: item[0],
    )
    wins = sum(1 for _, _, ratio in profits if ratio > 0)
    equity, peak, drawdown = 0.0, 0.0, 0.0
    for _, absolute, _ in profits:
        equity += absolute
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
    stake = sum(float(t.max_stake_amount or t.stake_amount or 0.0) for t in closed)
    return {
        "trades": float(len(profits)),
        "open_trades": float(open_count),
        "wins": float(wins),
        "losses": float(sum(1 for _, _, ratio in profits if ratio < 0)),
        "win_rate": wins / len(profits) if profits else 0.0,
        "profit_abs": equity,
        "profit": 100.0 * equity / stake if stake else 0.0,
        "drawdown_abs": drawdown,
    }


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
