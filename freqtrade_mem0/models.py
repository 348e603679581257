"""Memory records: the memory service's format on the wire, typed records inside.

On the wire (the memory service's format)::

    {"messages": [{"role": "system", "content": "..."}],
     "metadata": {"type": "backtest|live|analysis", "strategy": "...", "timestamp": "ISO-8601",
                  "metrics": {"profit": 0.0, "trades": 0, "win_rate": 0.0}, ...}}

Inside, a `MemoryRecord` is immutable and fully typed. Its id is derived from its natural key
(a trade's run, pair, side and open time; a run's id for a summary; the content for anything
else), so writing the same memory twice is one memory.

Conventions: `timestamp` is when the memory's information became known (a trade's close, a
backtest's period end), always UTC-aware. `metrics.profit` is a percentage, `metrics.win_rate`
a ratio in [0, 1], durations are minutes.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from freqtrade_mem0.errors import InvalidMemoryError

# Ids are UUIDv5 in this namespace: stable across processes, machines and backends.
ID_NAMESPACE = uuid.UUID("6f1c6f4e-2b1a-5d7e-9a53-0c6d1e8b4f21")
SCHEMA_VERSION = 1
MAX_CONTENT_CHARS = 32_000
MAX_MESSAGES = 64


class MemoryType(StrEnum):
    """The memory service's `metadata.type`: where the information comes from."""

    BACKTEST = "backtest"
    LIVE = "live"
    ANALYSIS = "analysis"


class MemoryKind(StrEnum):
    """What a memory is."""

    TRADE = "trade"  # one closed trade (or one partial exit) with its market conditions
    SUMMARY = "summary"  # one strategy's results in one backtest run
    PERFORMANCE = "performance"  # periodic live/dry performance snapshot
    ANALYSIS = "analysis"  # an observation or a mined insight
    NOTE = "note"  # anything else a person or a workflow wrote


class RunMode(StrEnum):
    """The run mode a memory was made in (freqtrade's run modes, reduced)."""

    LIVE = "live"
    DRY_RUN = "dry_run"
    BACKTEST = "backtest"
    HYPEROPT = "hyperopt"
    OTHER = "other"

    @property
    def is_real_time(self) -> bool:
        """Live and dry-run follow the wall clock; everything else is simulated."""
        return self in (RunMode.LIVE, RunMode.DRY_RUN)


# Filterable payload fields and their types. The query language, the payload indexes and the
# Python evaluator all read this one table.
KEYWORD_FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "type",
    "strategy",
    "pair",
    "timeframe",
    "exchange",
    "mode",
    "run_id",
    "side",
    "enter_tag",
    "exit_reason",
    "tags",
)
DATETIME_FIELDS: tuple[str, ...] = ("timestamp", "created_at")
# Metrics that may be named bare in queries (`profit:>1`); any other is `metrics.<name>`.
KNOWN_METRICS: tuple[str, ...] = (
    "profit",
    "profit_ratio",
    "profit_abs",
    "trades",
    "wins",
    "losses",
    "draws",
    "win_rate",
    "duration",
    "drawdown",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "expectancy",
    "stake",
    "leverage",
    "open_rate",
    "close_rate",
    "max_rate",
    "min_rate",
)
# Metrics given a payload index (the rest are still filterable, only slower on large stores).
INDEXED_METRICS: tuple[str, ...] = ("profit", "profit_ratio", "trades", "win_rate", "drawdown")

M = TypeVar("M", bound=BaseModel)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
OptionalName = Annotated[str | None, Field(default=None, min_length=1, max_length=200)]


class Message(BaseModel):
    """One message of a memory, as chat-style APIs carry it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(default="system", pattern=r"^(system|user|assistant)$")
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content is blank")
        return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check_json(value: Any, where: str) -> None:
    """Refuse values JSON cannot carry faithfully (NaN, infinities, arbitrary objects)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}; use a finite number or leave it out")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}")
            _check_json(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, str | int | bool):
        raise ValueError(f"{where} has a value of type {type(value).__name__}; use JSON types")


class MemoryRecord(BaseModel):
    """A memory as the package handles it: typed, validated, immutable.

    Build one directly, through `MemoryCreate.to_record()` (the wire format), or through the
    builders in `freqtrade_mem0.records` (trades, backtest summaries, performance, notes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(
        min_length=1, max_length=1000, description="natural key; the id derives from it"
    )
    kind: MemoryKind
    type: MemoryType
    text: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS * 4)
    strategy: str = Field(min_length=1, max_length=200)
    timestamp: AwareDatetime = Field(description="when the information became known (UTC)")
    pair: OptionalName = None
    timeframe: OptionalName = None
    exchange: OptionalName = None
    mode: RunMode | None = None
    run_id: OptionalName = None
    side: OptionalName = None
    enter_tag: OptionalName = None
    exit_reason: OptionalName = None
    tags: tuple[str, ...] = ()
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict, description="free-form, not indexed")
    messages: tuple[Message, ...] = ()
    market: tuple[FiniteFloat, ...] | None = Field(
        default=None, description="market fingerprint at the memory's reference candle"
    )
    fingerprint_version: int | None = None
    created_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    _normalise_times = field_validator("timestamp", "created_at")(_utc)

    @field_validator("data")
    @classmethod
    def _json_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_json(value, "data")
        taken = sorted(set(MemoryMetadata.model_fields).intersection(value))
        if taken:
            # The wire format's metadata holds the fields and the data side by side: the same
            # name in both would come back (from an export, a backup) as the field.
            raise ValueError(
                f"data may not hold {', '.join(taken)}: each is a field of the memory; "
                "set the field instead"
            )
        return value

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"metric name {name!r} must be letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _default_messages(self) -> MemoryRecord:
        if not self.messages:
            object.__setattr__(self, "messages", (Message(role="system", content=self.text),))
        return self

    @property
    def id(self) -> str:
        """The memory's id: a UUIDv5 of its natural key."""
        return memory_id(self.key)

    def to_payload(self) -> dict[str, Any]:
        """The record as a store payload (vectors are stored beside it, not in it)."""
        payload = self.model_dump(mode="json", exclude={"market"})
        payload["id"] = self.id
        payload["ts"] = self.timestamp.timestamp()
        payload["schema"] = SCHEMA_VERSION
        return payload

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], market: list[float] | tuple[float, ...] | None = None
    ) -> MemoryRecord:
        """Rebuild a record from a store payload (and its market vector, if any)."""
        fields = {k: v for k, v in payload.items() if k in cls.model_fields}
        if market is not None:
            fields["market"] = tuple(market)
        return cls.model_validate(fields)

    def to_public(self, score: float | None = None) -> MemoryPublic:
        """The record in the memory service's wire format."""
        metadata: dict[str, Any] = {
            "type": self.type.value,
            "kind": self.kind.value,
            "strategy": self.strategy,
            "timestamp": self.timestamp.isoformat(),
            "metrics": dict(self.metrics),
            "key": self.key,
        }
        for name in (
            "pair",
            "timeframe",
            "exchange",
            "run_id",
            "side",
            "enter_tag",
            "exit_reason",
        ):
            if (value := getattr(self, name)) is not None:
                metadata[name] = value
        if self.mode is not None:
            metadata["mode"] = self.mode.value
        if self.tags:
            metadata["tags"] = list(self.tags)
        if self.market is not None:
            metadata["market"] = list(self.market)
            metadata["fingerprint_version"] = self.fingerprint_version
        metadata.update(self.data)
        return MemoryPublic(
            id=self.id,
            messages=list(self.messages),
            metadata=metadata,
            created_at=self.created_at,
            score=score,
        )


class MemoryMetadata(BaseModel):
    """`metadata` of a memory on the wire. Unknown fields are kept, in `data`."""

    model_config = ConfigDict(extra="allow")

    type: MemoryType
    strategy: str = Field(min_length=1, max_length=200)
    timestamp: AwareDatetime
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    kind: MemoryKind | None = None
    key: str | None = Field(default=None, min_length=1, max_length=1000)
    pair: OptionalName = None
    timeframe: OptionalName = None
    exchange: OptionalName = None
    mode: RunMode | None = None
    run_id: OptionalName = None
    side: OptionalName = None
    enter_tag: OptionalName = None
    exit_reason: OptionalName = None
    tags: list[str] = Field(default_factory=list)
    market: list[FiniteFloat] | None = None
    fingerprint_version: int | None = None


_DEFAULT_KIND = {
    MemoryType.BACKTEST: MemoryKind.SUMMARY,
    MemoryType.LIVE: MemoryKind.NOTE,
    MemoryType.ANALYSIS: MemoryKind.ANALYSIS,
}


class MemoryCreate(BaseModel):
    """A memory as the memory service receives it."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    metadata: MemoryMetadata

    def to_record(self) -> MemoryRecord:
        """Validate into a typed record; the key defaults to a hash of the content."""
        meta = self.metadata
        data = dict(meta.model_extra or {})
        text = "\n".join(message.content for message in self.messages)
        key = meta.key or content_key(
            {
                "messages": [m.model_dump() for m in self.messages],
                "metadata": meta.model_dump(mode="json"),
            }
        )
        return _validated(
            MemoryRecord,
            {
                "key": key,
                "kind": meta.kind or _DEFAULT_KIND[meta.type],
                "type": meta.type,
                "text": text,
                "messages": tuple(self.messages),
                "strategy": meta.strategy,
                "timestamp": meta.timestamp,
                "pair": meta.pair,
                "timeframe": meta.timeframe,
                "exchange": meta.exchange,
                "mode": meta.mode,
                "run_id": meta.run_id,
                "side": meta.side,
                "enter_tag": meta.enter_tag,
                "exit_reason": meta.exit_reason,
                "tags": tuple(meta.tags),
                "metrics": meta.metrics,
                "data": data,
                "market": tuple(meta.market) if meta.market is not None else None,
                "fingerprint_version": meta.fingerprint_version,
            },
        )


class MemoryPublic(BaseModel):
    """A stored memory on the wire: its id, messages and metadata (and a score in searches)."""

    id: str
    messages: list[Message]
    metadata: dict[str, Any]
    created_at: datetime
    score: float | None = None


@lru_cache(maxsize=4096)  # a record's id is read several times on its way to the store
def memory_id(key: str) -> str:
    """The deterministic id of a natural key."""
    return str(uuid.uuid5(ID_NAMESPACE, key))


def content_key(content: Mapping[str, Any]) -> str:
    """A natural key for a memory that has none: a hash of its canonical JSON."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return "content:" + hashlib.sha256(canonical.encode()).hexdigest()


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the field: `metadata.timestamp: ...`."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(record)"
        message = item["msg"]
        if item["type"] == "timezone_aware":
            message += " (add an offset such as Z or +00:00)"
        lines.append(f"{prefix}{where}: {message}")
    return "; ".join(lines)


def _validated(model: type[M], fields: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc)) from exc


def parse_create(raw: Mapping[str, Any]) -> MemoryCreate:
    """Validate a wire-format memory, raising `InvalidMemoryError` that names the field."""
    return _validated(MemoryCreate, raw)


def parse_record(raw: Mapping[str, Any]) -> MemoryRecord:
    """Validate a record's fields, raising `InvalidMemoryError` that names the field."""
    return _validated(MemoryRecord, raw)
