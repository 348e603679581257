"""The AST translated into Mem0's metadata filters, and the part they cannot express.

Mem0 (mem0ai 2.2.1) writes filters as dicts: `{"pair": {"eq": "BTC/USDT"}}`, with the
operators eq, ne, gt, gte, lt, lte, in, nin, contains, icontains, the wildcard `"*"`, and the
logical keys `AND`, `OR`, `NOT`, each holding a list of filters. Its Qdrant vector store turns
them into Qdrant filters (`mem0.vector_stores.qdrant.Qdrant._create_filter`): eq is a
`MatchValue`, in a `MatchAny`, gt/gte/lt/lte a `Range` (a `DatetimeRange` when every bound is
an ISO-8601 string), AND/OR/NOT are must/should/must_not, and dotted keys (`metrics.profit`)
reach into nested payloads. So a translated filter keeps the semantics `evaluate` has.

The translation uses a subset on purpose:

- equality is always `{"eq": value}`, never the bare value: a bare `"*"` is Mem0's wildcard and
  a bare list means `in`;
- negation is always `NOT`, never `ne`/`nin`: those become Qdrant's `MatchExcept`, which holds
  for a list with any other element (`tags: [roi, stop]` is "ne roi") where `NOT` holds only
  when no element matches.

What Mem0's filters cannot express comes back as a residual AST, which the store evaluates in
Python on the candidates the translated part selects:

- "has a value" (a `Range` without bounds, `profit:[* TO *]`): Mem0 has no exists operator,
  and its wildcard matches memories without the field too.

Inside an AND the residual is split off child by child; an OR or NOT that contains anything
untranslatable is evaluated in Python as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from freqtrade_mem0.query.nodes import And, Match, MatchAny, Node, Or, Range, and_

Mem0Filter: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Mem0Translation:
    """A filter split into what Mem0 evaluates and what Python evaluates afterwards.

    Attributes:
        filters: the Mem0 filter dict; `None` selects everything.
        residual: the conditions left for `evaluate`; `None` when Mem0 says it all.
    """

    filters: Mem0Filter | None
    residual: Node | None


def to_mem0_filter(node: Node | None) -> Mem0Translation:
    """Translate a filter into Mem0's filter dict and a residual for Python.

    A memory matches `node` exactly when it matches `filters` (in Mem0) and `residual`
    (in `evaluate`).

    Args:
        node: the filter; `None` means no filter.

    Returns:
        The Mem0 filter and the residual.
    """
    filters, residual = _split(node)
    return Mem0Translation(filters, residual)


def _split(node: Node | None) -> tuple[Mem0Filter | None, Node | None]:
    if node is None:
        return None, None
    if isinstance(node, Match):
        return {node.field: {"eq": node.value}}, None
    if isinstance(node, MatchAny):
        return {node.field: {"in": list(node.values)}}, None
    if isinstance(node, Range):
        bounds = {
            key: _bound(value)
            for key in ("gt", "gte", "lt", "lte")
            if (value := getattr(node, key)) is not None
        }
        return ({node.field: bounds}, None) if bounds else (None, node)
    if isinstance(node, And):
        parts = [_split(child) for child in node.children]
        filters = [f for f, _ in parts if f is not None]
        residual = and_(*(r for _, r in parts))
        return _joined("AND", filters), residual
    if isinstance(node, Or):
        parts = [_split(child) for child in node.children]
        if any(r is not None for _, r in parts):
            return None, node
        return _joined("OR", [f for f, _ in parts if f is not None]), None
    child_filter, child_residual = _split(node.child)
    if child_residual is not None or child_filter is None:
        return None, node
    return {"NOT": [child_filter]}, None


def _joined(key: str, filters: list[Mem0Filter]) -> Mem0Filter | None:
    if not filters:
        return None
    return filters[0] if len(filters) == 1 else {key: filters}


def _bound(value: float | datetime) -> float | str:
    # ISO strings make Mem0's Qdrant store pick a DatetimeRange; numbers a float Range.
    return value.isoformat() if isinstance(value, datetime) else float(value)
