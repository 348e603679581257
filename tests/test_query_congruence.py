"""Random filters agree on the Python evaluator, Qdrant Edge and qdrant-client.

Each example stores random records in a real Edge shard (with payload indexes on some fields
and not on others, as the stores have them) and in qdrant-client's in-memory mode, then runs
random filters through `to_lucene` and `parse` and compares the ids every engine returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import qdrant_edge as qe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from freqtrade_mem0.models import KEYWORD_FIELDS, MemoryKind, MemoryRecord, MemoryType, RunMode
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
    to_edge_filter,
    to_lucene,
    to_qdrant_filter,
)

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = tuple((DAY0 + timedelta(days=n)).date() for n in range(-1, 5))
# Whole hours across three days, midnights exactly, and a microsecond either side of one.
TIMES = (
    *(DAY0 + timedelta(hours=h) for h in (0, 6, 23, 24, 30, 47, 48, 71)),
    DAY0 + timedelta(days=1, microseconds=1),
    DAY0 + timedelta(days=2, microseconds=-1),
)
STRATEGIES = ("Alpha", "Beta", "My Strategy")
PAIRS = ("ADA/BTC", "ETH/BTC", "BTC/USDT:USDT")
SIDES = ("long", "short")
TAGS = ("roi", "stop", "fast", "OR")
EXIT_REASONS = ("roi", "stop_loss", 'force "exit" \\ now')
METRIC_VALUES = (-2.5, -1.0, 0.0, 0.5, 1.0, 10.0)
INDEXED_METRICS = ("profit", "win_rate", "trades")
METRICS = (*INDEXED_METRICS, "duration", "custom")  # duration and custom have no index
KEYWORD_VALUES: dict[str, tuple[str, ...]] = {
    "strategy": (*STRATEGIES, "alpha"),
    "pair": (*PAIRS, "XRP/BTC"),
    "side": SIDES,
    "tags": (*TAGS, "AND"),
    "exit_reason": EXIT_REASONS,
    "mode": tuple(mode.value for mode in RunMode),
    "kind": (MemoryKind.TRADE.value, MemoryKind.NOTE.value),
}
MAX_RECORDS = 20
VECTOR = [1.0, 0.0, 0.0, 0.0]


class Engines:
    """One Edge shard and one qdrant-client collection, refilled for each example."""

    def __init__(self, path: Path) -> None:
        self.shard = qe.EdgeShard.create(
            str(path),
            qe.EdgeConfig(
                vectors={"text": qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)}
            ),
        )
        indexes = dict.fromkeys(KEYWORD_FIELDS, qe.PayloadSchemaType.Keyword)
        indexes["timestamp"] = qe.PayloadSchemaType.Datetime  # created_at stays unindexed
        indexes.update({f"metrics.{m}": qe.PayloadSchemaType.Float for m in INDEXED_METRICS})
        for field, schema in indexes.items():
            self.shard.update(qe.UpdateOperation.create_field_index(field, schema))
        self.client = QdrantClient(":memory:")
        self.client.create_collection(
            "memories",
            vectors_config={"text": qm.VectorParams(size=4, distance=qm.Distance.COSINE)},
        )
        self.ids: list[str] = []

    def load(self, records: list[MemoryRecord]) -> None:
        if self.ids:
            self.shard.update(qe.UpdateOperation.delete_points(list(self.ids)))
            self.client.delete("memories", qm.PointIdsList(points=list(self.ids)))
        self.ids = [r.id for r in records]
        self.shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(r.id, {"text": VECTOR}, r.to_payload()) for r in records]
            )
        )
        self.client.upsert(
            "memories",
            [
                qm.PointStruct(id=r.id, vector={"text": VECTOR}, payload=r.to_payload())
                for r in records
            ],
        )

    def assert_selects(self, node: Node | None, expected: set[str]) -> None:
        """Every engine's scroll, count and filtered search selects exactly `expected`."""
        edge = to_edge_filter(node)
        points, _ = self.shard.scroll(qe.ScrollRequest(limit=100, filter=edge))
        assert {str(p.id) for p in points} == expected, "edge scroll"
        assert self.shard.count(qe.CountRequest(exact=True, filter=edge)) == len(expected)
        hits = self.shard.query(
            qe.QueryRequest(limit=100, query=qe.Query.Nearest(VECTOR, using="text"), filter=edge)
        )
        assert {str(h.id) for h in hits} == expected, "edge query"
        remote = to_qdrant_filter(node)
        records, _ = self.client.scroll("memories", scroll_filter=remote, limit=100)
        assert {str(r.id) for r in records} == expected, "qdrant-client scroll"
        assert self.client.count("memories", count_filter=remote).count == len(expected)

    def close(self) -> None:
        self.shard.close()
        self.client.close()


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    opened = Engines(tmp_path_factory.mktemp("query-congruence") / "shard")
    yield opened
    opened.close()


def _optional(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.none() | st.sampled_from(values)


@st.composite
def record_sets(draw: st.DrawFn) -> list[MemoryRecord]:
    """Up to MAX_RECORDS records drawn from small pools, so that filters match some."""
    records = []
    for i in range(draw(st.integers(1, MAX_RECORDS))):
        metrics = {
            name: draw(st.sampled_from(METRIC_VALUES)) for name in METRICS if draw(st.booleans())
        }
        records.append(
            MemoryRecord(
                key=f"congruence|{i}",
                kind=draw(st.sampled_from((MemoryKind.TRADE, MemoryKind.NOTE))),
                type=MemoryType.BACKTEST,
                text="a memory",
                strategy=draw(st.sampled_from(STRATEGIES)),
                timestamp=draw(st.sampled_from(TIMES)),
                created_at=draw(st.sampled_from(TIMES)),
                pair=draw(_optional(PAIRS)),
                side=draw(_optional(SIDES)),
                exit_reason=draw(_optional(EXIT_REASONS)),
                mode=draw(_optional(tuple(RunMode))),
                tags=tuple(draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3))),
                metrics=metrics,
            )
        )
    return records


def _keyword_leaf(field: str) -> st.SearchStrategy[Node]:
    values = st.sampled_from(KEYWORD_VALUES[field])
    return st.one_of(
        st.builds(eq, st.just(field), values),
        st.builds(any_of, st.just(field), st.lists(values, max_size=3)),
    )


def _bounds(points: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for `between`: an optional lower and an optional upper bound."""
    lower = st.none() | st.tuples(st.sampled_from(("gt", "gte")), points)
    upper = st.none() | st.tuples(st.sampled_from(("lt", "lte")), points)
    return st.builds(lambda lo, hi: dict(b for b in (lo, hi) if b is not None), lower, upper)


def _range_leaf(field: str, points: st.SearchStrategy[Any]) -> st.SearchStrategy[Node]:
    return _bounds(points).map(lambda bounds: between(field, **bounds))


LEAVES: st.SearchStrategy[Node] = st.one_of(
    *(_keyword_leaf(field) for field in KEYWORD_VALUES),
    *(
        _range_leaf(field, st.sampled_from((*METRIC_VALUES, 0.25, -3.0)))
        for field in ("profit", "win_rate", "trades", "duration", "metrics.custom")
    ),
    *(
        _range_leaf(field, st.sampled_from((*TIMES, *DAYS)))
        for field in ("timestamp", "created_at")
    ),
)


def _some(node: Node | None) -> Node:
    assert node is not None  # the builders return None only when given no nodes
    return node


def _combine(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def joined(builder: Callable[..., Node | None]) -> st.SearchStrategy[Node]:
        return st.lists(children, min_size=1, max_size=3).map(lambda nodes: _some(builder(*nodes)))

    negated: st.SearchStrategy[Node] = children.map(Not)
    return st.one_of(joined(and_), joined(or_), negated)


FILTERS: st.SearchStrategy[Node] = st.recursive(LEAVES, _combine, max_leaves=8)
CONGRUENCE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CONGRUENCE
@given(records=record_sets(), nodes=st.lists(FILTERS, min_size=1, max_size=4))
def test_engines_agree_with_the_evaluator(
    engines: Engines, records: list[MemoryRecord], nodes: list[Node]
) -> None:
    engines.load(records)
    payloads = {r.id: r.to_payload() for r in records}
    for node in nodes:
        parsed = parse(to_lucene(node))
        assert parsed.text == ""
        expected = {i for i, payload in payloads.items() if evaluate(node, payload)}
        assert {i for i, payload in payloads.items() if evaluate(parsed.where, payload)} == expected
        engines.assert_selects(parsed.where, expected)


DAY_FORMS: dict[str, Callable[[date, date, date], bool]] = {
    "{field}:{a}": lambda d, a, b: d == a,
    "{field}:>{a}": lambda d, a, b: d > a,
    "{field}:>={a}": lambda d, a, b: d >= a,
    "{field}:<{a}": lambda d, a, b: d < a,
    "{field}:<={a}": lambda d, a, b: d <= a,
    "{field}:[{a} TO {b}]": lambda d, a, b: a <= d <= b,
    "{field}:{{{a} TO {b}}}": lambda d, a, b: a < d < b,
    "{field}:[{a} TO {b}}}": lambda d, a, b: a <= d < b,
    "{field}:{{{a} TO {b}]": lambda d, a, b: a < d <= b,
    "{field}:[{a} TO *]": lambda d, a, b: d >= a,
    "{field}:{{* TO {b}}}": lambda d, a, b: d < b,
}


@CONGRUENCE
@given(
    records=record_sets(),
    form=st.sampled_from(sorted(DAY_FORMS)),
    field=st.sampled_from(("timestamp", "created_at")),
    a=st.sampled_from(DAYS),
    b=st.sampled_from(DAYS),
)
def test_dates_stand_for_whole_utc_days(
    engines: Engines, records: list[MemoryRecord], form: str, field: str, a: date, b: date
) -> None:
    engines.load(records)
    where = parse(form.format(field=field, a=a, b=b)).where
    expected = {r.id for r in records if DAY_FORMS[form](getattr(r, field).date(), a, b)}
    assert {r.id for r in records if evaluate(where, r.to_payload())} == expected
    engines.assert_selects(where, expected)
