"""The AST in Mem0's filter language: the translation table, and agreement with `evaluate`.

The random filters and records are those of `test_query_congruence`; here they run through a
real `Mem0Store` (mem0ai's `Memory` on an in-memory Qdrant), so Mem0's own filter code
decides the translated part and the store's Python post-filter the residual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import store_spec, to_point
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.query import (
    Node,
    Not,
    and_,
    any_of,
    between,
    eq,
    evaluate,
    or_,
    parse,
    to_lucene,
    to_mem0_filter,
)
from freqtrade_mem0.stores.mem0 import Mem0Store
from freqtrade_mem0.stores.mem0_format import MARK, RECORD
from tests.test_query_congruence import CONGRUENCE, FILTERS, record_sets

DAY = datetime(2024, 1, 1, tzinfo=UTC)
PROFIT_SET = between("profit")  # "has a value": no Mem0 operator says it
TABLE: list[tuple[Node | None, dict[str, Any] | None, Node | None]] = [
    (None, None, None),
    (eq("pair", "ADA/BTC"), {"pair": {"eq": "ADA/BTC"}}, None),
    (eq("pair", "*"), {"pair": {"eq": "*"}}, None),  # a bare "*" is Mem0's wildcard
    (any_of("side", ["long", "short"]), {"side": {"in": ["long", "short"]}}, None),
    (any_of("side", []), {"side": {"in": []}}, None),
    (between("profit", gt=1), {"metrics.profit": {"gt": 1.0}}, None),
    (
        between("profit", gte=-1, lt=2.5),
        {"metrics.profit": {"gte": -1.0, "lt": 2.5}},
        None,
    ),
    (
        between("timestamp", gte=DAY),
        {"timestamp": {"gte": "2024-01-01T00:00:00+00:00"}},
        None,
    ),
    (
        parse("timestamp:[2024-01-01 TO 2024-01-01]").where,
        {"timestamp": {"gte": "2024-01-01T00:00:00+00:00", "lt": "2024-01-02T00:00:00+00:00"}},
        None,
    ),
    (Not(eq("tags", "roi")), {"NOT": [{"tags": {"eq": "roi"}}]}, None),
    (
        and_(eq("strategy", "Alpha"), or_(eq("side", "long"), Not(eq("pair", "ADA/BTC")))),
        {
            "AND": [
                {"strategy": {"eq": "Alpha"}},
                {"OR": [{"side": {"eq": "long"}}, {"NOT": [{"pair": {"eq": "ADA/BTC"}}]}]},
            ]
        },
        None,
    ),
    (PROFIT_SET, None, PROFIT_SET),
    (and_(eq("pair", "ADA/BTC"), PROFIT_SET), {"pair": {"eq": "ADA/BTC"}}, PROFIT_SET),
    (or_(eq("pair", "ADA/BTC"), PROFIT_SET), None, or_(eq("pair", "ADA/BTC"), PROFIT_SET)),
    (Not(PROFIT_SET), None, Not(PROFIT_SET)),
    (
        and_(eq("side", "long"), between("win_rate", lt=0.5), Not(PROFIT_SET)),
        {"AND": [{"side": {"eq": "long"}}, {"metrics.win_rate": {"lt": 0.5}}]},
        Not(PROFIT_SET),
    ),
]


@pytest.mark.parametrize(
    ("node", "filters", "residual"), TABLE, ids=[to_lucene(n) or "no filter" for n, _, _ in TABLE]
)
def test_translation_table(
    node: Node | None, filters: dict[str, Any] | None, residual: Node | None
) -> None:
    translation = to_mem0_filter(node)
    assert translation.filters == filters
    assert translation.residual == residual


class Engine:
    """A real Mem0Store in memory, refilled for each example."""

    def __init__(self) -> None:
        self.spec = store_spec(HashingEmbedder())
        self.store = Mem0Store(self.spec, Settings(), "mem0::memory:")
        self.vector = [1.0] + [0.0] * (self.spec.text_dim - 1)

    def load(self, records: list[MemoryRecord]) -> None:
        self.store.delete_where(None)
        self.store.upsert([to_point(r, self.vector) for r in records])

    def assert_selects(self, node: Node | None, records: dict[str, MemoryRecord]) -> None:
        """Count, pages, search, latest, facets and Mem0's own listing all select `expected`."""
        payloads = {i: r.to_payload() for i, r in records.items()}
        expected = {i for i, p in payloads.items() if evaluate(node, p)}
        store = self.store
        assert store.count(node) == len(expected), "count"
        seen: list[str] = []
        offset: str | None = None
        while True:
            page, offset = store.scroll(node, limit=7, offset=offset)
            seen += [p.id for p in page]
            if offset is None:
                break
        assert sorted(seen) == sorted(expected), "scroll"
        hits = store.search(self.vector, using="text", where=node, limit=50)
        assert {h.point.id for h in hits} == expected, "search"
        newest = [p.payload["timestamp"] for p in store.latest(node, limit=5)]
        times = sorted((records[i].timestamp for i in expected), reverse=True)[:5]
        assert [datetime.fromisoformat(t) for t in newest] == times, "latest"
        pairs = Counter(records[i].pair for i in expected if records[i].pair is not None)
        assert store.facet("pair", node) == dict(pairs), "facet"
        translation = to_mem0_filter(node)
        if translation.residual is None:  # what `Memory.get_all` runs: the store's list()
            mem0_filter = {"AND": [{MARK: {"eq": RECORD}}, translation.filters or {}]}
            listed, _ = store.mem0.vector_store.list(filters=mem0_filter, top_k=100)
            assert {str(p.id) for p in listed} == expected, "mem0 list"

    def close(self) -> None:
        self.store.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    opened = Engine()
    yield opened
    opened.close()


@CONGRUENCE
@given(records=record_sets(), nodes=st.lists(FILTERS, min_size=1, max_size=3))
def test_mem0_agrees_with_the_evaluator(
    engine: Engine, records: list[MemoryRecord], nodes: list[Node]
) -> None:
    engine.load(records)
    by_id = {r.id: r for r in records}
    for node in nodes:
        engine.assert_selects(parse(to_lucene(node)).where, by_id)
