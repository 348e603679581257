"""The filter AST, field resolution, and builders for filters made in code."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Literal, TypeAlias

from freqtrade_mem0.errors import QuerySyntaxError
from freqtrade_mem0.models import DATETIME_FIELDS, KEYWORD_FIELDS, KNOWN_METRICS

FieldKind = Literal["keyword", "datetime", "number"]
Bound: TypeAlias = float | datetime
BoundInput: TypeAlias = float | date | datetime | str

METRICS_PREFIX = "metrics."
_METRIC_NAME = re.compile(r"[A-Za-z0-9_]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Match:
    """A keyword field equals a value (for a list field: any element does)."""

    field: str
    value: str


@dataclass(frozen=True)
class MatchAny:
    """A keyword field equals one of the values (matches nothing when there are none)."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """A numeric or datetime field lies within bounds; no bounds means "has a value"."""

    field: str
    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None

    def __post_init__(self) -> None:
        if self.gt is not None and self.gte is not None:
            raise ValueError("a range takes gt or gte, not both")
        if self.lt is not None and self.lte is not None:
            raise ValueError("a range takes lt or lte, not both")
        kind = field_kind(self.field)
        if kind == "keyword":
            raise ValueError(f"{self.field} is a keyword field: ranges need numbers or datetimes")
        # Typed bounds keep the engines in step: Edge compares a float range on an indexed
        # datetime field with the index's timestamps, a Qdrant server matches nothing.
        for bound in (self.gt, self.gte, self.lt, self.lte):
            if bound is None:
                continue
            if isinstance(bound, datetime) != (kind == "datetime") or isinstance(bound, bool):
                wanted = "datetimes" if kind == "datetime" else "numbers"
                raise ValueError(f"{self.field} is bounded by {wanted}, not {bound!r}")
            if isinstance(bound, datetime) and bound.utcoffset() is None:
                raise ValueError("datetime bounds must be timezone-aware")

    @property
    def is_time(self) -> bool:
        """Whether the range compares datetimes (else numbers)."""
        return field_kind(self.field) == "datetime"


@dataclass(frozen=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if not self.children:
            raise ValueError("And needs at least one child")


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        # Qdrant treats an empty `should` as "match all", the opposite of an empty OR.
        if not self.children:
            raise ValueError("Or needs at least one child")


@dataclass(frozen=True)
class Not:
    """The child does not match (true for memories that lack the child's field)."""

    child: Node


Node: TypeAlias = Match | MatchAny | Range | And | Or | Not


@dataclass(frozen=True)
class ParsedQuery:
    """A parsed query: the filter, and the free text that drives semantic search."""

    where: Node | None
    text: str


def field_kind(field: str) -> FieldKind:
    """The kind of an already resolved field name."""
    if field in KEYWORD_FIELDS:
        return "keyword"
    if field in DATETIME_FIELDS:
        return "datetime"
    return "number"


def resolve_field(name: str, query: str = "", position: int | None = None) -> str:
    """The payload path of a field as queries name it (`profit` -> `metrics.profit`).

    Raises:
        QuerySyntaxError: the field is unknown; the message suggests the closest known one.
    """
    if name in KEYWORD_FIELDS or name in DATETIME_FIELDS:
        return name
    if name in KNOWN_METRICS:
        return METRICS_PREFIX + name
    if name.startswith(METRICS_PREFIX):
        metric = name[len(METRICS_PREFIX) :]
        if _METRIC_NAME.fullmatch(metric):
            return name
        raise QuerySyntaxError(
            f"bad metric name {metric!r}: use letters, digits and underscores", query, position
        )
    known = [*KEYWORD_FIELDS, *DATETIME_FIELDS, *KNOWN_METRICS]
    known += [METRICS_PREFIX + metric for metric in KNOWN_METRICS]
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    else:
        hint = "fields are " + ", ".join((*KEYWORD_FIELDS, *DATETIME_FIELDS))
        hint += ", and metrics such as profit or win_rate"
        if _METRIC_NAME.fullmatch(name):
            hint += f"; any other metric is written '{METRICS_PREFIX}{name}'"
    raise QuerySyntaxError(f"unknown field {name!r}; {hint}", query, position)


def display_name(field: str) -> str:
    """The shortest name that resolves to a field (`metrics.profit` -> `profit`)."""
    short = field.removeprefix(METRICS_PREFIX)
    return short if field.startswith(METRICS_PREFIX) and short in KNOWN_METRICS else field


def parse_number(text: str, field: str, query: str = "", position: int | None = None) -> float:
    """A finite number written in a query."""
    if not _NUMBER.fullmatch(text):
        name = display_name(field)
        raise QuerySyntaxError(f"{name} needs a number, not {text!r}", query, position)
    value = float(text)
    if not math.isfinite(value):
        raise QuerySyntaxError(f"{text!r} is too large a number", query, position)
    return value


def parse_time(
    text: str, field: str, query: str = "", position: int | None = None
) -> date | datetime:
    """A date (a whole UTC day) or an instant (naive means UTC) written in a query."""
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _DATETIME.fullmatch(text):
            return utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise QuerySyntaxError(f"bad date {text!r} for {field}: {exc}", query, position) from exc
    raise QuerySyntaxError(
        f"{field} needs a date (2024-06-27) or a time (2024-06-27T12:00:00Z), not {text!r}",
        query,
        position,
    )


def utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _day(value: date, days: int = 0) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=days)


def lower_bound(value: float | date | datetime, inclusive: bool) -> dict[str, Bound]:
    """Range keywords for a lower bound; a date stands for its whole UTC day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return {"gte": _day(value, 0 if inclusive else 1)}
    return {"gte" if inclusive else "gt": value}


def upper_bound(value: float | date | datetime, inclusive: bool) -> dict[str, Bound]:
    """Range keywords for an upper bound; a date stands for its whole UTC day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return {"lt": _day(value, 1 if inclusive else 0)}
    return {"lte" if inclusive else "lt": value}


def _keyword_field(field: str, builder: str) -> str:
    resolved = resolve_field(field)
    if field_kind(resolved) != "keyword":
        raise QuerySyntaxError(
            f"{builder}() needs a keyword field, and {field!r} is not one; use between()"
        )
    return resolved


def _keyword(value: str) -> str:
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise TypeError(f"keyword values are strings, not {type(value).__name__}")
    return str(value)


def eq(field: str, value: str) -> Match:
    """A keyword field equals a value (exact, case-sensitive).

    Raises:
        QuerySyntaxError: the field is unknown or not a keyword field.
    """
    return Match(_keyword_field(field, "eq"), _keyword(value))


def any_of(field: str, values: Iterable[str]) -> MatchAny:
    """A keyword field equals one of the values (none: matches nothing).

    Raises:
        QuerySyntaxError: the field is unknown or not a keyword field.
    """
    return MatchAny(_keyword_field(field, "any_of"), tuple(_keyword(v) for v in values))


def _bound(field: str, value: BoundInput) -> float | date | datetime:
    if field_kind(field) == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{field} bounds are numbers, not {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{field} bounds must be finite, not {value}")
        return float(value)
    if isinstance(value, str):
        return parse_time(value, field)
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return value
    raise TypeError(f"{field} bounds are datetimes, dates or ISO strings, not {value!r}")


def between(
    field: str,
    *,
    gt: BoundInput | None = None,
    gte: BoundInput | None = None,
    lt: BoundInput | None = None,
    lte: BoundInput | None = None,
) -> Range:
    """A numeric or datetime field lies within bounds (no bounds: the field has a value).

    Numbers bound numeric fields; datetimes (naive means UTC), ISO strings or dates bound
    datetime fields. A date stands for its whole UTC day: `gt=date(2024, 1, 1)` starts on the
    2nd, `lte=date(2024, 1, 1)` ends at the end of the 1st.

    Raises:
        QuerySyntaxError: the field is unknown or a keyword field.
    """
    resolved = resolve_field(field)
    if field_kind(resolved) == "keyword":
        raise QuerySyntaxError(f"between() needs a numeric or datetime field, not {field!r}")
    if (gt is not None and gte is not None) or (lt is not None and lte is not None):
        raise ValueError("give gt or gte (lt or lte), not both")
    bounds: dict[str, Bound] = {}
    for value, inclusive in ((gt, False), (gte, True)):
        if value is not None:
            bounds.update(lower_bound(_bound(resolved, value), inclusive))
    for value, inclusive in ((lt, False), (lte, True)):
        if value is not None:
            bounds.update(upper_bound(_bound(resolved, value), inclusive))
    return Range(resolved, **bounds)


def _flat(kind: type[And] | type[Or], nodes: tuple[Node | None, ...]) -> Node | None:
    children: list[Node] = []
    for node in nodes:
        if isinstance(node, kind):
            children.extend(node.children)
        elif node is not None:
            children.append(node)
    if not children:
        return None
    return children[0] if len(children) == 1 else kind(tuple(children))


def and_(*nodes: Node | None) -> Node | None:
    """All of the nodes; `None`s (absent conditions) are dropped, nested ANDs flattened."""
    return _flat(And, nodes)


def or_(*nodes: Node | None) -> Node | None:
    """Any of the nodes; `None`s (absent alternatives) are dropped, nested ORs flattened."""
    return _flat(Or, nodes)


def not_(node: Node | None) -> Node | None:
    """The negation of a node; `None` (no condition) stays `None`, double negation cancels."""
    if node is None:
        return None
    return node.child if isinstance(node, Not) else Not(node)
