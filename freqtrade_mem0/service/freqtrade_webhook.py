"""freqtrade's own webhook messages (`"format": "json"`) as memories.

freqtrade does not post its messages as they are: for each event type the `webhook` section of
its config holds a template whose strings are filled from the message with `str.format`, so
every value arrives as a string (`"0.0123"`, `"None"`, `"2024-06-27 12:00:00+00:00"`). The
model below accepts those strings (and real JSON numbers), and the template adds what the
message lacks: the strategy's name, the bot's name and the run mode. See `docs/service.md`
for the config.

| event        | memory                                                                |
|--------------|-----------------------------------------------------------------------|
| `exit_fill`  | a trade (kind `trade`), keyed as the mixin keys it, so a bot with both |
|              | the mixin and the webhook still has one memory per trade               |
| `entry_fill` | a note (kind `note`, tag `entry_fill`) keyed by trade and open time    |
| `status`     | a note (tag `status`) keyed by its text and the minute it arrived      |

Other event types are acknowledged and not stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from freqtrade_mem0.errors import InvalidMemoryError
from freqtrade_mem0.models import (
    MemoryKind,
    MemoryRecord,
    MemoryType,
    RunMode,
    content_key,
    format_validation_error,
)
from freqtrade_mem0.records import TradeFacts, trade_key, trade_record

STORED_EVENTS = ("entry_fill", "exit_fill", "status")
_NULLS = {"", "none", "null", "nan"}
Name = Field(default=None, min_length=1, max_length=200)


class FreqtradeWebhook(BaseModel):
    """A freqtrade webhook message, as its `"format": "json"` template posts it."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1, max_length=64, description="entry_fill, exit_fill, status...")
    strategy: str | None = Field(
        default=None, min_length=1, max_length=200, description="set in the template"
    )
    bot_name: str | None = Name
    mode: Literal["live", "dry_run"] = Field(default="live", description="set in the template")
    exchange: str | None = Name
    timeframe: str | None = Name
    trade_id: int | None = None
    pair: str | None = Name
    direction: str | None = Field(default=None, max_length=16, description="Long or Short")
    enter_tag: str | None = Name
    exit_reason: str | None = Name
    open_rate: float | None = Field(default=None, allow_inf_nan=False)
    close_rate: float | None = Field(default=None, allow_inf_nan=False)
    order_rate: float | None = Field(default=None, allow_inf_nan=False)
    amount: float | None = Field(default=None, allow_inf_nan=False)
    stake_amount: float | None = Field(default=None, allow_inf_nan=False)
    stake_currency: str | None = Name
    leverage: float | None = Field(default=None, allow_inf_nan=False)
    profit_ratio: float | None = Field(default=None, allow_inf_nan=False)
    profit_amount: float | None = Field(default=None, allow_inf_nan=False)
    final_profit_ratio: float | None = Field(default=None, allow_inf_nan=False)
    open_date: datetime | None = None
    close_date: datetime | None = None
    sub_trade: bool | None = None
    is_final_exit: bool | None = None
    status: str | None = Field(default=None, max_length=4000)

    @field_validator("*", mode="before")
    @classmethod
    def _null_strings(cls, value: Any) -> Any:
        # str.format renders None as "None": the template cannot leave a value out.
        if isinstance(value, str) and value.strip().lower() in _NULLS:
            return None
        return value

    @field_validator("open_date", "close_date")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_record(message: FreqtradeWebhook, now: datetime | None = None) -> MemoryRecord | None:
    """The memory a webhook message makes, or None for event types that are not stored.

    Raises:
        InvalidMemoryError: the message lacks what its event type needs (names the fields).
    """
    if message.type not in STORED_EVENTS:
        return None
    if message.strategy is None:
        raise InvalidMemoryError(
            'strategy: missing; add "strategy": "<your strategy>" to this event\'s template '
            "in the freqtrade webhook config"
        )
    now = now or datetime.now(UTC)
    try:
        if message.type == "exit_fill":
            return _exit(message, message.strategy)
        if message.type == "entry_fill":
            return _entry(message, message.strategy)
        return _status(message, message.strategy, now)
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc)) from exc


def _run_id(message: FreqtradeWebhook) -> str:
    """The run id the mixin gives a live or dry-run bot, so both key trades alike."""
    return f"{message.mode}:{message.bot_name or 'freqtrade'}"


def _require(message: FreqtradeWebhook, *names: str) -> None:
    missing = [name for name in names if getattr(message, name) is None]
    if missing:
        raise InvalidMemoryError(
            f"{message.type} needs {', '.join(missing)}: add them to its template "
            '(e.g. "pair": "{pair}") in the freqtrade webhook config'
        )


def _is_short(message: FreqtradeWebhook) -> bool:
    direction = (message.direction or "long").lower()
    if direction not in ("long", "short"):
        raise InvalidMemoryError(f"direction: {message.direction!r} is neither Long nor Short")
    return direction == "short"


def _exit(message: FreqtradeWebhook, strategy: str) -> MemoryRecord:
    _require(message, "pair", "open_date", "close_date", "open_rate", "profit_ratio")
    assert message.pair is not None
    assert message.open_date is not None
    assert message.close_date is not None
    assert message.open_rate is not None
    assert message.profit_ratio is not None
    partial = message.is_final_exit is False
    profit_ratio = message.profit_ratio
    if not partial and message.final_profit_ratio is not None:
        profit_ratio = message.final_profit_ratio  # the whole trade's, as the mixin records
    close_rate = message.close_rate if message.close_rate is not None else message.order_rate
    facts = TradeFacts(
        pair=message.pair,
        is_short=_is_short(message),
        open_date=message.open_date,
        close_date=message.close_date,
        open_rate=message.open_rate,
        close_rate=close_rate if close_rate is not None else 0.0,
        profit_ratio=profit_ratio,
        profit_abs=message.profit_amount or 0.0,
        stake_amount=message.stake_amount or 0.0,
        amount=message.amount or 0.0,
        leverage=message.leverage or 1.0,
        enter_tag=message.enter_tag,
        exit_reason=message.exit_reason,
        trade_id=message.trade_id,
        extra={"source": "freqtrade-webhook"},
    )
    mode = RunMode(message.mode)
    record = trade_record(
        facts,
        strategy=strategy,
        mode=mode,
        run_id=_run_id(message),
        timeframe=message.timeframe,
        exchange=message.exchange.lower() if message.exchange else None,
    )
    if not partial:
        return record
    # The webhook does not say which partial exit this is: its fill time keys it instead.
    key = f"{trade_key(strategy, _run_id(message), facts)}|partial@{facts.close_date.isoformat()}"
    return MemoryRecord.model_validate(
        {
            **record.model_dump(),
            "key": key,
            "text": record.text.replace(" closed ", " partially exited ", 1),
            "messages": (),  # rebuilt from the new text
            "data": {**record.data, "partial_exit_at": facts.close_date.isoformat()},
        }
    )


def _entry(message: FreqtradeWebhook, strategy: str) -> MemoryRecord:
    _require(message, "pair", "open_date", "open_rate")
    assert message.pair is not None
    assert message.open_date is not None
    assert message.open_rate is not None
    side = "short" if _is_short(message) else "long"
    run_id = _run_id(message)
    text = f"{message.pair} {side} entry filled at {message.open_rate:g}"
    if message.enter_tag:
        text += f" (entry tag {message.enter_tag})"
    if message.stake_amount is not None:
        text += f", stake {message.stake_amount:g} {message.stake_currency or ''}".rstrip()
    metrics = {
        "open_rate": message.open_rate,
        "stake": message.stake_amount,
        "leverage": message.leverage,
    }
    return MemoryRecord(
        key=f"entry|{strategy}|{run_id}|{message.pair}|{side}|{message.open_date.isoformat()}",
        kind=MemoryKind.NOTE,
        type=MemoryType.LIVE,
        text=text,
        strategy=strategy,
        timestamp=message.open_date,
        pair=message.pair,
        timeframe=message.timeframe,
        exchange=message.exchange.lower() if message.exchange else None,
        mode=RunMode(message.mode),
        run_id=run_id,
        side=side,
        enter_tag=message.enter_tag,
        tags=("entry_fill",),
        metrics={k: v for k, v in metrics.items() if v is not None},
        data={
            "source": "freqtrade-webhook",
            **({"trade_id": message.trade_id} if message.trade_id is not None else {}),
            **({"amount": message.amount} if message.amount is not None else {}),
        },
    )


def _status(message: FreqtradeWebhook, strategy: str, now: datetime) -> MemoryRecord:
    _require(message, "status")
    assert message.status is not None
    run_id = _run_id(message)
    minute = now.replace(second=0, microsecond=0)
    text = f"{message.bot_name or strategy} ({message.mode}) status: {message.status}"
    return MemoryRecord(
        # A retried delivery within the minute is the same memory.
        key=content_key({"status": message.status, "run_id": run_id, "minute": minute.isoformat()}),
        kind=MemoryKind.NOTE,
        type=MemoryType.LIVE,
        text=text,
        strategy=strategy,
        timestamp=now,
        mode=RunMode(message.mode),
        run_id=run_id,
        tags=("status",),
        data={"source": "freqtrade-webhook"},
    )
