"""Builders of the memories the package writes: trades, backtest summaries, performance, notes.

Every builder fixes the memory's natural key, so the same trade reached twice (a repeated fill,
a retried delivery, a result file ingested after the mixin saw the run) is one memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from freqtrade_mem0.fingerprint import FINGERPRINT_VERSION
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode, content_key


@dataclass(frozen=True)
class MarketContext:
    """The market around a candle: the fingerprint vector and a phrase a person can read."""

    vector: tuple[float, ...]
    description: str
    candle: datetime


@dataclass(frozen=True)
class TradeFacts:
    """A closed trade (or one partial exit of it), independent of where it was read from."""

    pair: str
    is_short: bool
    open_date: datetime
    close_date: datetime
    open_rate: float
    close_rate: float
    profit_ratio: float
    profit_abs: float
    stake_amount: float
    amount: float = 0.0
    leverage: float = 1.0
    enter_tag: str | None = None
    exit_reason: str | None = None
    max_rate: float | None = None
    min_rate: float | None = None
    trade_id: int | None = None
    partial_exit: int | None = None  # n-th partial exit, None for the final close
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> str:
        return "short" if self.is_short else "long"

    @property
    def duration_minutes(self) -> float:
        return (self.close_date - self.open_date).total_seconds() / 60.0


def _as_utc(value: datetime | str | int | float) -> datetime:
    if isinstance(value, int | float):  # freqtrade result files carry milliseconds
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def facts_from_result(row: Mapping[str, Any]) -> TradeFacts:
    """A trade from a freqtrade backtest result file (`strategy[...]["trades"][i]`)."""

    def number(name: str, default: float = 0.0) -> float:
        value = row.get(name)
        return default if value is None else float(value)

    return TradeFacts(
        pair=str(row["pair"]),
        is_short=bool(row.get("is_short", False)),
        open_date=_as_utc(row.get("open_timestamp") or row["open_date"]),
        close_date=_as_utc(row.get("close_timestamp") or row["close_date"]),
        open_rate=number("open_rate"),
        close_rate=number("close_rate"),
        profit_ratio=number("profit_ratio"),
        profit_abs=number("profit_abs"),
        stake_amount=number("stake_amount"),
        amount=number("amount"),
        leverage=number("leverage", 1.0) or 1.0,
        enter_tag=row.get("enter_tag") or None,
        exit_reason=row.get("exit_reason") or None,
        max_rate=row.get("max_rate"),
        min_rate=row.get("min_rate"),
    )


def format_duration(minutes: float) -> str:
    """`3h10m`, `2d4h`, `45m`."""
    total = round(minutes)
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{mins:02d}m" if mins else f"{hours}h"
    return f"{mins}m"


def trade_key(strategy: str, scope: str, facts: TradeFacts) -> str:
    """The natural key of a trade: strategy, run scope, pair, side and open time."""
    key = f"trade|{strategy}|{scope}|{facts.pair}|{facts.side}|{facts.open_date.isoformat()}"
    return key if facts.partial_exit is None else f"{key}|partial{facts.partial_exit}"


def trade_record(
    facts: TradeFacts,
    *,
    strategy: str,
    mode: RunMode,
    run_id: str | None,
    timeframe: str | None = None,
    exchange: str | None = None,
    entry: MarketContext | None = None,
    exit: MarketContext | None = None,
    scope: str | None = None,
) -> MemoryRecord:
    """A trade memory. Its timestamp is the close: when the outcome became known.

    Args:
        facts: the trade.
        strategy: strategy name.
        mode: run mode the trade happened in.
        run_id: the backtest run id (freqtrade's), or the bot's identity live.
        timeframe: strategy timeframe.
        exchange: exchange name.
        entry: market context at the entry signal candle (its fingerprint is the memory's
            market vector: recall compares entry conditions).
        exit: market context at exit, kept in `data`.
        scope: what makes the key unique besides the trade; defaults to the run id or mode.
    """
    profit_pct = facts.profit_ratio * 100.0
    verb = "partially exited" if facts.partial_exit is not None else "closed"
    # The outcome in words too: the text embedding reads "a loss" far better than "-0.36%".
    outcome = "a win" if profit_pct > 0 else "a loss" if profit_pct < 0 else "break-even"
    text = (
        f"{facts.pair} {facts.side} {verb} {profit_pct:+.2f}% after "
        f"{format_duration(facts.duration_minutes)} by {facts.exit_reason or 'unknown exit'}, "
        f"{outcome}"
    )
    if facts.enter_tag:
        text += f" (entry tag {facts.enter_tag})"
    if entry is not None:
        text += f"; entry in a {entry.description}"
    if exit is not None:
        text += f"; exit in a {exit.description}"
    metrics = {
        "profit": profit_pct,
        "profit_ratio": facts.profit_ratio,
        "profit_abs": facts.profit_abs,
        "duration": facts.duration_minutes,
        "stake": facts.stake_amount,
        "leverage": facts.leverage,
        "open_rate": facts.open_rate,
        "close_rate": facts.close_rate,
    }
    if facts.max_rate is not None:
        metrics["max_rate"] = float(facts.max_rate)
    if facts.min_rate is not None:
        metrics["min_rate"] = float(facts.min_rate)
    data: dict[str, Any] = {
        "open_date": facts.open_date.isoformat(),
        "close_date": facts.close_date.isoformat(),
        "amount": facts.amount,
        **({"trade_id": facts.trade_id} if facts.trade_id is not None else {}),
        **({"partial_exit": facts.partial_exit} if facts.partial_exit is not None else {}),
        **facts.extra,
    }
    if exit is not None:
        data["exit_market"] = list(exit.vector)
    if entry is not None:
        data["entry_candle"] = entry.candle.isoformat()
    return MemoryRecord(
        key=trade_key(strategy, scope or run_id or mode.value, facts),
        kind=MemoryKind.TRADE,
        type=MemoryType.LIVE if mode.is_real_time else MemoryType.BACKTEST,
        text=text,
        strategy=strategy,
        timestamp=facts.close_date,
        pair=facts.pair,
        timeframe=timeframe,
        exchange=exchange,
        mode=mode,
        run_id=run_id,
        side=facts.side,
        enter_tag=facts.enter_tag,
        exit_reason=facts.exit_reason,
        metrics={k: v for k, v in metrics.items() if math.isfinite(v)},
        data=data,
        market=entry.vector if entry is not None else None,
        fingerprint_version=FINGERPRINT_VERSION if entry is not None else None,
    )


_NOTE_FIELDS = ("side", "timeframe", "exchange", "enter_tag", "exit_reason")


def note_record(
    text: str,
    *,
    strategy: str,
    timestamp: datetime,
    kind: MemoryKind = MemoryKind.ANALYSIS,
    type: MemoryType = MemoryType.ANALYSIS,
    mode: RunMode | None = None,
    run_id: str | None = None,
    pair: str | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: tuple[str, ...] = (),
    data: Mapping[str, Any] | None = None,
    market: tuple[float, ...] | None = None,
) -> MemoryRecord:
    """An analysis, note or performance memory; keyed by its content and time.

    Keys of `data` that name optional fields (`side`, `timeframe`, `exchange`, `enter_tag`,
    `exit_reason`) set those fields, so `mem0_note(text, side="long")` is filterable by side.
    """
    data = dict(data or {})
    named = {name: data.pop(name) for name in _NOTE_FIELDS if name in data}
    key = content_key(
        {
            "kind": kind.value,
            "strategy": strategy,
            "run_id": run_id,
            "pair": pair,
            "timestamp": timestamp.isoformat(),
            "text": text,
        }
    )
    return MemoryRecord(
        key=key,
        kind=kind,
        type=type,
        text=text,
        strategy=strategy,
        timestamp=timestamp,
        mode=mode,
        run_id=run_id,
        pair=pair,
        metrics=dict(metrics or {}),
        tags=tags,
        data=data,
        market=market,
        **named,
        fingerprint_version=FINGERPRINT_VERSION if market is not None else None,
    )


# Strategy-level metrics copied from freqtrade's results, under our names (percentages as %).
_SUMMARY_METRICS: dict[str, tuple[str, float]] = {
    "profit": ("profit_total", 100.0),
    "profit_abs": ("profit_total_abs", 1.0),
    "profit_mean": ("profit_mean", 100.0),
    "profit_median": ("profit_median", 100.0),
    "trades": ("total_trades", 1.0),
    "wins": ("wins", 1.0),
    "losses": ("losses", 1.0),
    "draws": ("draws", 1.0),
    "win_rate": ("winrate", 1.0),
    "drawdown": ("max_drawdown_account", 100.0),
    "drawdown_abs": ("max_drawdown_abs", 1.0),
    "sharpe": ("sharpe", 1.0),
    "sortino": ("sortino", 1.0),
    "calmar": ("calmar", 1.0),
    "sqn": ("sqn", 1.0),
    "cagr": ("cagr", 100.0),
    "profit_factor": ("profit_factor", 1.0),
    "expectancy": ("expectancy", 1.0),
    "expectancy_ratio": ("expectancy_ratio", 1.0),
    "market_change": ("market_change", 100.0),
    "trades_per_day": ("trades_per_day", 1.0),
    "holding_avg_minutes": ("holding_avg_s", 1.0 / 60.0),
    "max_consecutive_losses": ("max_consecutive_losses", 1.0),
    "rejected_signals": ("rejected_signals", 1.0),
    "final_balance": ("final_balance", 1.0),
    "starting_balance": ("starting_balance", 1.0),
}
# Tables and settings kept verbatim in the summary's data.
_SUMMARY_DATA = (
    "results_per_pair",
    "results_per_enter_tag",
    "exit_reason_summary",
    "mix_tag_stats",
    "pairlist",
    "stake_currency",
    "stake_amount",
    "max_open_trades",
    "stoploss",
    "minimal_roi",
    "trailing_stop",
    "trading_mode",
    "backtest_start",
    "backtest_end",
    "backtest_days",
    "timerange",
    "timeframe_detail",
)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (freqtrade writes NaN and -100 sentinels)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def summary_record(
    stats: Mapping[str, Any],
    *,
    strategy: str,
    run_id: str,
    mode: RunMode = RunMode.BACKTEST,
    exchange: str | None = None,
    notes: str | None = None,
    tags: tuple[str, ...] = (),
    extra: Mapping[str, Any] | None = None,
) -> MemoryRecord:
    """A backtest summary from one strategy's entry in freqtrade's results.

    Its timestamp is the end of the backtested period: a backtest tells nothing about time
    after it, and in a later backtest it must stay invisible before that point.
    """
    metrics = {
        name: scaled * factor
        for name, (source, factor) in _SUMMARY_METRICS.items()
        if (scaled := _finite(stats.get(source))) is not None
    }
    end = stats.get("backtest_end_ts")
    timestamp = _as_utc(int(end)) if end is not None else _as_utc(str(stats["backtest_end"]))
    timerange = stats.get("timerange") or ""
    timeframe = stats.get("timeframe") or None
    text = (
        f"{strategy} backtest {timerange} ({timeframe}): {metrics.get('trades', 0):.0f} trades, "
        f"profit {metrics.get('profit', 0.0):+.2f}%, win rate {metrics.get('win_rate', 0.0):.0%}, "
        f"max drawdown {metrics.get('drawdown', 0.0):.2f}%"
    )
    if notes:
        text += f". Notes: {notes}"
    data = {name: _clean(stats[name]) for name in _SUMMARY_DATA if name in stats}
    data.update(_clean(dict(extra or {})))
    if notes:
        data["notes"] = notes
    return MemoryRecord(
        key=f"summary|{strategy}|{run_id}",
        kind=MemoryKind.SUMMARY,
        type=MemoryType.BACKTEST,
        text=text,
        strategy=strategy,
        timestamp=timestamp,
        timeframe=timeframe,
        exchange=exchange,
        mode=mode,
        run_id=run_id,
        tags=tags,
        metrics=metrics,
        data=data,
    )
