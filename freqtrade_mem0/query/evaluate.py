"""The AST evaluated on a payload in pure Python, with Qdrant's semantics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from freqtrade_mem0.query.nodes import And, Match, MatchAny, Node, Not, Or, Range, utc


def evaluate(node: Node | None, payload: Mapping[str, Any]) -> bool:
    """Whether a stored payload matches a filter, exactly as the Qdrant engines decide.

    A condition on a field the payload lacks (or holds as null) is false, so its NOT is
    true; a condition on a list holds when any element satisfies it.

    Args:
        node: the filter; `None` matches everything.
        payload: a payload as `MemoryRecord.to_payload()` makes it.

    Returns:
        True when the payload matches.
    """
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(child, payload) for child in node.children)
    if isinstance(node, Or):
        return any(evaluate(child, payload) for child in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, payload)
    values = _values(payload, node.field)
    if isinstance(node, Match):
        return any(isinstance(v, str) and v == node.value for v in values)
    if isinstance(node, MatchAny):
        return any(isinstance(v, str) and v in node.values for v in values)
    return any(_within(node, v) for v in values)


def _values(payload: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dotted path; lists are flattened at every level, as Qdrant does."""
    found: list[Any] = [payload]
    for key in path.split("."):
        deeper: list[Any] = []
        for item in found:
            if isinstance(item, Mapping) and key in item:
                value = item[key]
                deeper.extend(value if isinstance(value, list) else [value])
        found = deeper
    return [value for value in found if value is not None]


def _within(node: Range, value: Any) -> bool:
    if node.is_time:
        if not isinstance(value, str):
            return False
        try:
            point: Any = utc(datetime.fromisoformat(value))
        except ValueError:
            return False
    elif isinstance(value, int | float) and not isinstance(value, bool):
        point = value
    else:
        return False
    return (
        (node.gt is None or point > node.gt)
        and (node.gte is None or point >= node.gte)
        and (node.lt is None or point < node.lt)
        and (node.lte is None or point <= node.lte)
    )
