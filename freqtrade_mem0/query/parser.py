"""Lucene query text to the filter AST and the free text of a semantic search."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from freqtrade_mem0.errors import QuerySyntaxError
from freqtrade_mem0.query.nodes import (
    Match,
    MatchAny,
    Node,
    ParsedQuery,
    Range,
    and_,
    field_kind,
    lower_bound,
    not_,
    or_,
    parse_number,
    parse_time,
    resolve_field,
    upper_bound,
)

# luqum reads a minus sign that starts a number as NOT (and rejects it after `>`), and the
# colon of a UTC offset as a field separator. Before parsing, each becomes a private-use
# character of the same length, so that positions still point into the original query.
_MINUS = "\ue000"
_COLON = "\ue001"
_OFFSET_COLON = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?[+-]\d{2}):(?=\d{2})")
_SIGN = re.compile(r"-(?=\.?\d)")
_AFTER_TO = re.compile(r"(?:^|[\s\[{])TO$")
_WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*[*?]")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_POSITION = re.compile(r"at position (\d+)")
_TOKEN = re.compile(r"[^\s()\[\]{}:]+|\S")

_UNSUPPORTED = {
    tree.Fuzzy: "fuzzy matching (~) is not supported; values match exactly",
    tree.Proximity: "proximity search (~) is not supported",
    tree.Boost: "boosts (^) are not supported",
    tree.Regex: "regular expressions are not supported; values match exactly",
}


def parse(query: str) -> ParsedQuery:
    """Parse a query in the Lucene syntax of the memory service.

    `strategy:MyStrategy AND profit:>10.0 rsi oversold` filters on the fields and searches
    semantically for "rsi oversold". Supported: `field:value`, quoted values, `>`, `>=`, `<`,
    `<=`, ranges `[a TO b]` / `{a TO b}` / mixed with `*` for an open end, AND / OR / NOT,
    `-` and `+` prefixes, parentheses and field groups `pair:(ADA/BTC OR ETH/BTC)`. Terms
    next to each other are ANDed. A date stands for its whole UTC day. Field values match
    exactly (no wildcards, fuzziness or regular expressions); free text is taken as written.

    Args:
        query: the query text; empty or blank matches everything.

    Returns:
        The filter (`None`: no filter) and the free text ("" when there is none).

    Raises:
        QuerySyntaxError: the query does not parse, names an unknown field, or has a value
            of the wrong type; the error carries the position of the problem.
    """
    if not query.strip():
        return ParsedQuery(None, "")
    try:
        parsed = luqum_parse(_prepare(query))
    except ParseError as exc:
        raise _syntax_error(str(exc), query) from exc
    walker = _Walker(query)
    where = walker.node(parsed, None, free=True)
    return ParsedQuery(where, " ".join(walker.text))


def _prepare(query: str) -> str:
    """Mask minus signs of numbers and colons of UTC offsets (see `_MINUS`)."""
    for marker in (_MINUS, _COLON):
        if (at := query.find(marker)) >= 0:
            raise QuerySyntaxError(f"unsupported character {marker!r}", query, at)
    text = _OFFSET_COLON.sub(lambda m: m.group(1) + _COLON, query)
    chars = list(text)
    for sign in _SIGN.finditer(text):
        before = text[: sign.start()].rstrip()
        if before.endswith((":", "<", ">", "=", "[", "{")) or _AFTER_TO.search(before):
            chars[sign.start()] = _MINUS
    return "".join(chars)


def _restore(text: str) -> str:
    return text.replace(_MINUS, "-").replace(_COLON, ":")


def _syntax_error(message: str, query: str) -> QuerySyntaxError:
    """A luqum parse error, explained, at its position in the query."""
    found = _POSITION.search(message)
    if found is None:  # luqum ran out of input
        return QuerySyntaxError(
            "the query ends too early: a value, a closing parenthesis or bracket is missing",
            query,
            len(query),
        )
    position = int(found.group(1))
    rest = query[position:]
    if rest.startswith('"'):
        return QuerySyntaxError("unclosed quote", query, position)
    if rest.startswith("'"):
        return QuerySyntaxError("quote values with double quotes, not single", query, position)
    token = match.group() if (match := _TOKEN.match(rest)) else rest
    return QuerySyntaxError(f"unexpected {token!r}", query, position)


class _Walker:
    """Turns a luqum tree into the AST, collecting free text on the way."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.text: list[str] = []

    def error(self, message: str, item: Any) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.query, getattr(item, "pos", None))

    def node(self, item: Any, field: str | None, *, free: bool) -> Node | None:
        """`field` is set inside `field:...`; `free` says whether free text may appear here."""
        if isinstance(item, tree.AndOperation | tree.UnknownOperation):
            return and_(*(self.node(child, field, free=free) for child in item.children))
        if isinstance(item, tree.OrOperation):
            return self.alternatives(item, field)
        if isinstance(item, tree.Not | tree.Prohibit):
            return not_(self.node(item.children[0], field, free=False))
        if isinstance(item, tree.Plus | tree.Group | tree.FieldGroup):
            return self.node(item.children[0], field, free=free)
        if isinstance(item, tree.SearchField):
            return self.search_field(item, field, free=free)
        if isinstance(item, tree.Word | tree.Phrase):
            if field is None:
                self.free_text(item, free)
                return None
            return self.equals(field, self.value(item, field), item)
        if isinstance(item, tree.From | tree.To | tree.Range):
            return self.range(item, field)
        for kind, message in _UNSUPPORTED.items():
            if isinstance(item, kind):
                raise self.error(message, item)
        raise self.error(f"unsupported syntax {str(item)!r}", item)

    def alternatives(self, item: tree.OrOperation, field: str | None) -> Node | None:
        children = [self.node(child, field, free=False) for child in item.children]
        values: list[str] = []
        for child in children:
            if isinstance(child, Match):
                values.append(child.value)
            elif isinstance(child, MatchAny):
                values.extend(child.values)
            else:
                return or_(*children)
        # Alternatives of one keyword field, `pair:(ADA/BTC OR ETH/BTC)`, are one condition.
        return MatchAny(field, tuple(values)) if field is not None else or_(*children)

    def search_field(self, item: tree.SearchField, field: str | None, *, free: bool) -> Node:
        if field is not None:
            raise self.error(
                f"field {_restore(item.name)!r} inside the value of another field; quote "
                'values that contain a colon (pair:"BTC/USDT:USDT")',
                item,
            )
        resolved = resolve_field(_restore(item.name), self.query, item.pos)
        expr = item.expr
        if isinstance(expr, tree.SearchField):
            # `pair:BTC/USDT:USDT` (a futures pair) parses as a field inside a field.
            text, inner = self.joined(expr)
            return self.equals(resolved, text, inner)
        node = self.node(expr, resolved, free=free)
        if node is None:
            raise self.error(f"{_restore(item.name)} has no value", item)
        return node

    def joined(self, item: Any) -> tuple[str, Any]:
        """The value of a colon-separated chain `a:b:c`, and its first part."""
        if isinstance(item, tree.SearchField):
            text, _ = self.joined(item.expr)
            return f"{_restore(item.name)}:{text}", item
        if isinstance(item, tree.Word):
            return self.value(item, "value"), item
        raise self.error("quote values that contain a colon", item)

    def free_text(self, item: tree.Word | tree.Phrase, free: bool) -> None:
        if not free:
            raise self.error(
                f"free text {str(item)!r} under OR or NOT: the text of a semantic search "
                "always applies; give the term a field (strategy:...) or move it out",
                item,
            )
        text = item.value[1:-1] if isinstance(item, tree.Phrase) else item.value
        self.text.append(_ESCAPE.sub(r"\1", _restore(text)))

    def value(self, item: Any, field: str) -> str:
        """The text of a value: unquoted and unescaped; wildcards refused."""
        if isinstance(item, tree.Phrase):
            return _ESCAPE.sub(r"\1", _restore(item.value[1:-1]))
        if not isinstance(item, tree.Word):
            raise self.error(f"{field} needs a plain value here", item)
        if _WILDCARD.search(item.value):
            raise self.error(
                "wildcards (* and ?) are not supported; values match exactly (quote a value "
                "to match * or ? literally)",
                item,
            )
        return _ESCAPE.sub(r"\1", _restore(item.value))

    def scalar(self, text: str, field: str, item: Any) -> float | date | datetime:
        if field_kind(field) == "number":
            return parse_number(text, field, self.query, item.pos)
        return parse_time(text, field, self.query, item.pos)

    def equals(self, field: str, text: str, item: Any) -> Node:
        if field_kind(field) == "keyword":
            return Match(field, text)
        value = self.scalar(text, field, item)
        return Range(field, **lower_bound(value, True), **upper_bound(value, True))

    def range(self, item: tree.From | tree.To | tree.Range, field: str | None) -> Range:
        if field is None:
            raise self.error("a comparison or range needs a field (profit:>1)", item)
        if field_kind(field) == "keyword":
            raise self.error(f"{field} is a keyword field: compare numbers and dates only", item)
        if isinstance(item, tree.From):
            value = self.scalar(self.value(item.a, field), field, item.a)
            return Range(field, **lower_bound(value, item.include))
        if isinstance(item, tree.To):
            value = self.scalar(self.value(item.a, field), field, item.a)
            return Range(field, **upper_bound(value, item.include))
        bounds = {}
        if not self.open_end(item.low):
            low = self.scalar(self.value(item.low, field), field, item.low)
            bounds.update(lower_bound(low, item.include_low))
        if not self.open_end(item.high):
            high = self.scalar(self.value(item.high, field), field, item.high)
            bounds.update(upper_bound(high, item.include_high))
        return Range(field, **bounds)

    @staticmethod
    def open_end(item: Any) -> bool:
        return isinstance(item, tree.Word) and item.value == "*"
