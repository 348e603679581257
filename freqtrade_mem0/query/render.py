"""The AST rendered back into the query language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from freqtrade_mem0.query.nodes import (
    And,
    Bound,
    Match,
    MatchAny,
    Node,
    Or,
    Range,
    display_name,
)

_BARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_RESERVED = frozenset({"AND", "OR", "NOT", "TO"})


def to_lucene(node: Node | None) -> str:
    """Render a filter as a query; `parse` reads it back into an equivalent filter.

    Args:
        node: the filter; `None` renders as the empty query (match all).

    Returns:
        The query text, with fully qualified UTC times (`2024-06-27T00:00:00Z`).
    """
    return "" if node is None else _render(node)


def _render(node: Node) -> str:
    if isinstance(node, Match):
        return f"{display_name(node.field)}:{_keyword(node.value)}"
    if isinstance(node, MatchAny):
        if not node.values:  # matches nothing, like an empty MatchAny
            return f'({node.field}:"" AND NOT {node.field}:"")'
        return f"{display_name(node.field)}:({' OR '.join(_keyword(v) for v in node.values)})"
    if isinstance(node, Range):
        return f"{display_name(node.field)}:{_range(node)}"
    if isinstance(node, And):
        return " AND ".join(_operand(child) for child in node.children)
    if isinstance(node, Or):
        return " OR ".join(_operand(child) for child in node.children)
    return f"NOT {_operand(node.child)}"


def _operand(node: Node) -> str:
    text = _render(node)
    return f"({text})" if isinstance(node, And | Or) else text


def _keyword(value: str) -> str:
    if _BARE.fullmatch(value) and value not in _RESERVED:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar(value: Bound) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return repr(value)


def _range(node: Range) -> str:
    low = node.gte if node.gte is not None else node.gt
    high = node.lte if node.lte is not None else node.lt
    if node.gte is not None and node.gte == node.lte:
        return _scalar(node.gte)
    if high is None and low is not None:
        return (">=" if node.gte is not None else ">") + _scalar(low)
    if low is None and high is not None:
        return ("<=" if node.lte is not None else "<") + _scalar(high)
    opening = "[" if node.gte is not None or low is None else "{"
    closing = "]" if node.lte is not None or high is None else "}"
    start = "*" if low is None else _scalar(low)
    end = "*" if high is None else _scalar(high)
    return f"{opening}{start} TO {end}{closing}"
