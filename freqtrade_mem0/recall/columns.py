"""A growable columnar table of trade memories, kept sorted by time, with vectorised filters.

Filters are the query language's AST evaluated over whole columns at once, with the same
semantics as the stores (a missing field matches nothing; NOT of it matches).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from freqtrade_mem0.models import KEYWORD_FIELDS, MemoryRecord
from freqtrade_mem0.query import And, Match, MatchAny, Node, Not, Or, Range

_LIST_FIELDS = ("tags",)
_CODED = tuple(f for f in KEYWORD_FIELDS if f not in _LIST_FIELDS)


class _Growable:
    """A numpy array with amortised O(1) append."""

    def __init__(self, dtype: Any, width: int = 0, fill: Any = 0) -> None:
        self.width = width
        self.fill = fill
        shape = (16, width) if width else (16,)
        self.data = np.full(shape, fill, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self.data):
            capacity = max(needed, 2 * len(self.data))
            grown = np.full((capacity, *self.data.shape[1:]), self.fill, dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : needed] = values
        self.size = needed

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]

    def reorder(self, order: np.ndarray) -> None:
        self.data[: self.size] = self.data[: self.size][order]


class TradeColumns:
    """Trade memories as columns: time, outcome, market vector, codes of keyword fields."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ts = _Growable(np.float64, fill=np.nan)
        self.market = _Growable(np.float64, width=dim, fill=np.nan)
        self.profit = _Growable(np.float64, fill=np.nan)
        self.duration = _Growable(np.float64, fill=np.nan)
        self.codes = {name: _Growable(np.int32, fill=-1) for name in _CODED}
        self.vocab: dict[str, dict[str, int]] = {name: {} for name in _CODED}
        self.words: dict[str, list[str]] = {name: [] for name in _CODED}
        self.tags: dict[str, _Growable] = {}
        self.metrics: dict[str, _Growable] = {}
        self.ids: list[str] = []
        self.sorted = True

    def __len__(self) -> int:
        return self.ts.size

    def code(self, field: str, value: str) -> int:
        """The code of a keyword value (-2 if never seen: matches nothing)."""
        return self.vocab[field].get(value, -2)

    def word(self, field: str, code: int) -> str | None:
        return None if code < 0 else self.words[field][code]

    def append(self, records: list[MemoryRecord]) -> None:
        """Add records (already filtered to trades) at the end; re-sort lazily if out of order."""
        if not records:
            return
        start = len(self)
        times = np.array([r.timestamp.timestamp() for r in records])
        if (start and times.min() < self.ts.view[-1]) or np.any(np.diff(times) < 0):
            self.sorted = False
        self.ts.extend(times)
        empty = np.full(self.dim, np.nan)
        self.market.extend(
            np.array(
                [
                    r.market if r.market is not None and len(r.market) == self.dim else empty
                    for r in records
                ],
                dtype=np.float64,
            )
        )
        self.profit.extend(np.array([r.metrics.get("profit", np.nan) for r in records]))
        self.duration.extend(np.array([r.metrics.get("duration", np.nan) for r in records]))
        for name in _CODED:
            self.codes[name].extend(
                np.array([self._encode(name, r) for r in records], dtype=np.int32)
            )
        self._extend_sparse(self.tags, start, records, lambda r: dict.fromkeys(r.tags, True), False)
        self._extend_sparse(self.metrics, start, records, lambda r: r.metrics, np.nan)
        self.ids.extend(r.id for r in records)

    def _encode(self, name: str, record: MemoryRecord) -> int:
        value = record.id if name == "id" else getattr(record, name)
        if value is None:
            return -1
        text = str(getattr(value, "value", value))
        vocab = self.vocab[name]
        if text not in vocab:
            vocab[text] = len(vocab)
            self.words[name].append(text)
        return vocab[text]

    def _extend_sparse(
        self,
        table: dict[str, _Growable],
        start: int,
        records: list[MemoryRecord],
        values: Any,
        fill: Any,
    ) -> None:
        rows = [values(r) for r in records]
        for key in {k for row in rows for k in row}:
            if key not in table:
                column = _Growable(np.float64 if fill is not False else np.bool_, fill=fill)
                column.extend(np.full(start, fill))
                table[key] = column
        for key, column in table.items():
            column.extend(np.array([row.get(key, fill) for row in rows]))

    def ensure_sorted(self) -> None:
        """Physically order rows by time (stable), so a time cut is a prefix."""
        if self.sorted:
            return
        order = np.argsort(self.ts.view, kind="stable")
        columns = [
            self.ts,
            self.market,
            self.profit,
            self.duration,
            *self.codes.values(),
            *self.tags.values(),
            *self.metrics.values(),
        ]
        for column in columns:
            column.reorder(order)
        self.ids = [self.ids[i] for i in order]
        self.sorted = True

    def cut(self, at: datetime) -> int:
        """Number of rows with a timestamp strictly before `at`."""
        self.ensure_sorted()
        return int(np.searchsorted(self.ts.view, at.timestamp(), side="left"))

    def mask(self, node: Node | None, rows: np.ndarray | slice) -> np.ndarray:
        """Boolean mask of the rows a filter matches."""
        count = len(self.ts.view[rows])
        if node is None:
            return np.ones(count, dtype=bool)
        if isinstance(node, And):
            result = np.ones(count, dtype=bool)
            for child in node.children:
                result &= self.mask(child, rows)
            return result
        if isinstance(node, Or):
            result = np.zeros(count, dtype=bool)
            for child in node.children:
                result |= self.mask(child, rows)
            return result
        if isinstance(node, Not):
            return ~self.mask(node.child, rows)
        if isinstance(node, Match | MatchAny):
            values = (node.value,) if isinstance(node, Match) else node.values
            if node.field in _LIST_FIELDS:
                result = np.zeros(count, dtype=bool)
                for value in values:
                    if value in self.tags:
                        result |= self.tags[value].view[rows]
                return result
            codes = [self.code(node.field, v) for v in values]
            return np.isin(self.codes[node.field].view[rows], codes)
        if isinstance(node, Range):
            return self._range(node, rows, count)
        raise TypeError(f"unsupported filter node {node!r}")

    def _range(self, node: Range, rows: np.ndarray | slice, count: int) -> np.ndarray:
        if node.field == "timestamp":
            values = self.ts.view[rows]
        elif node.field.startswith("metrics.") and node.field[8:] in self.metrics:
            values = self.metrics[node.field[8:]].view[rows]
        else:
            return np.zeros(count, dtype=bool)  # a field these memories lack matches nothing

        def number(bound: Any) -> float:
            return bound.timestamp() if isinstance(bound, datetime) else float(bound)

        with np.errstate(invalid="ignore"):
            result = ~np.isnan(values)
            if node.gt is not None:
                result &= values > number(node.gt)
            if node.gte is not None:
                result &= values >= number(node.gte)
            if node.lt is not None:
                result &= values < number(node.lt)
            if node.lte is not None:
                result &= values <= number(node.lte)
        return result
