"""The AST translated into Qdrant filters, once, for both client libraries.

Qdrant Edge (`qdrant_edge`) and `qdrant_client.models` describe filters with the same shape
(`Filter(must, should, must_not)` of `FieldCondition(key, match=..., range=...)`); a small
adapter per library supplies the constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from freqtrade_mem0.query.nodes import And, Match, MatchAny, Node, Not, Or, Range

if TYPE_CHECKING:
    import qdrant_edge
    from qdrant_client import models


@dataclass(frozen=True)
class _Backend:
    """The constructors one client library offers for filters."""

    filter: Callable[[list[Any] | None, list[Any] | None, list[Any] | None], Any]
    condition: Callable[[str, Any, Any], Any]  # key, match, range
    match_value: Callable[[str], Any]
    match_any: Callable[[list[str]], Any]
    number_range: Callable[..., Any]
    time_range: Callable[..., Any]


# Each library is imported on first translation: parsing and evaluating need neither.
@cache
def _edge() -> _Backend:
    import qdrant_edge as qe

    def time_range(**bounds: datetime) -> qe.RangeDateTime:
        return qe.RangeDateTime(**{key: value.isoformat() for key, value in bounds.items()})

    return _Backend(
        filter=lambda must, should, not_: qe.Filter(must=must, should=should, must_not=not_),
        condition=lambda key, match, range_: qe.FieldCondition(key, match=match, range=range_),
        match_value=qe.MatchValue,
        match_any=qe.MatchAny,
        number_range=qe.RangeFloat,
        time_range=time_range,
    )


@cache
def _qdrant() -> _Backend:
    from qdrant_client import models as qm

    return _Backend(
        filter=lambda must, should, not_: qm.Filter(must=must, should=should, must_not=not_),
        condition=lambda key, match, range_: qm.FieldCondition(key=key, match=match, range=range_),
        match_value=lambda value: qm.MatchValue(value=value),
        match_any=lambda values: qm.MatchAny(any=values),
        number_range=qm.Range,
        time_range=qm.DatetimeRange,
    )


def _condition(node: Node, backend: _Backend) -> Any:
    if isinstance(node, Match):
        return backend.condition(node.field, backend.match_value(node.value), None)
    if isinstance(node, MatchAny):
        return backend.condition(node.field, backend.match_any(list(node.values)), None)
    if isinstance(node, Range):
        bounds = {
            key: value
            for key in ("gt", "gte", "lt", "lte")
            if (value := getattr(node, key)) is not None
        }
        if node.is_time:
            return backend.condition(node.field, None, backend.time_range(**bounds))
        numbers = {key: float(value) for key, value in bounds.items()}
        return backend.condition(node.field, None, backend.number_range(**numbers))
    if isinstance(node, And):
        must = [_condition(c, backend) for c in node.children if not isinstance(c, Not)]
        must_not = [_condition(c.child, backend) for c in node.children if isinstance(c, Not)]
        return backend.filter(must or None, None, must_not or None)
    if isinstance(node, Or):
        return backend.filter(None, [_condition(c, backend) for c in node.children], None)
    return backend.filter(None, None, [_condition(node.child, backend)])


def _filter(node: Node | None, backend: _Backend) -> Any:
    if node is None:
        return None
    condition = _condition(node, backend)
    if isinstance(node, And | Or | Not):
        return condition
    return backend.filter([condition], None, None)


def to_edge_filter(node: Node | None) -> qdrant_edge.Filter | None:
    """Translate a filter for Qdrant Edge.

    Args:
        node: the filter; `None` means no filter.

    Returns:
        A `qdrant_edge.Filter`, or `None` to match everything.
    """
    result: qdrant_edge.Filter | None = _filter(node, _edge())
    return result


def to_qdrant_filter(node: Node | None) -> models.Filter | None:
    """Translate a filter for a Qdrant server (`qdrant_client`).

    Args:
        node: the filter; `None` means no filter.

    Returns:
        A `qdrant_client.models.Filter`, or `None` to match everything.
    """
    result: models.Filter | None = _filter(node, _qdrant())
    return result
