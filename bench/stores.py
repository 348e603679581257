"""Stores: batched upsert, filtered search and reopen of the embedded Qdrant Edge store, against
qdrant-client's local mode (the peer) and a numpy brute-force filtered kNN (the floor).

Points are shaped like trade memories (a 384-d text vector, a 10-d market vector, the payload a
trade record writes, with its indexes), but the vectors are random unit vectors made up front:
no embedding model runs here, so only the stores are timed. Searches go through the package's
store classes (`EdgeStore`, `QdrantStore`), as `Memory.search` calls them: the text vector,
top 10, the filter `strategy AND profit range AND timestamp range` (about 2 % of the points),
payloads returned, on the store as written and again after `optimize()` (the store's steady
state: one optimized segment with int8 vectors in RAM, rescored; its recall against the exact
answer is a figure too). The indexes group points by strategy and order them by time (tenant
and principal). qdrant-client's local mode evaluates filters in Python: at 100k points its
search is capped in time and its reopen is measured at 10k points only.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Figure, Latency, progress, samples, timed
from freqtrade_mem0.query import Node, and_, between, eq
from freqtrade_mem0.stores import MARKET_VECTOR, TEXT_VECTOR, StoredPoint, StoreSpec

BUDGET_SECONDS = 240
TEXT_DIM, MARKET_DIM = 384, 10
BATCH = 256  # the outbox's default batch
STRATEGIES, PAIRS, SIDES = 10, 20, ("long", "short")
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
LIMIT = 10
SPEC = StoreSpec(text_dim=TEXT_DIM, market_dim=MARKET_DIM, embedder="bench", fingerprint_version=1)
EDGE = "Qdrant Edge"
PEER = "qdrant-client local"
FLOOR = "numpy brute force"
# Targets: the design's promise for the embedded default (DESIGN.md, "Decisions").
SEARCH_P50_TARGET = {10_000: 2.0}  # ms, as written
SEARCH_P99_TARGET = {100_000: 5.0}  # ms, after optimize()
RECALL_TARGET = 0.95
REOPEN_TARGET = 1.0  # s
UPSERT_TARGET = 2_000.0  # points/s


@dataclass
class Data:
    """Synthetic memories as arrays (for the floor) and as store points."""

    text: np.ndarray  # (n, 384) float32, unit rows
    strategy: np.ndarray  # (n,) int
    profit: np.ndarray  # (n,) float, percent
    ts: np.ndarray  # (n,) float seconds
    points: list[StoredPoint]


@dataclass(frozen=True)
class Query:
    vector: np.ndarray
    strategy: int
    profit_low: float
    profit_high: float
    after: float
    before: float

    def where(self) -> Node | None:
        return and_(
            eq("strategy", f"S{self.strategy}"),
            between("profit", gt=self.profit_low, lt=self.profit_high),
            between(
                "timestamp",
                gte=datetime.fromtimestamp(self.after, tz=UTC),
                lt=datetime.fromtimestamp(self.before, tz=UTC),
            ),
        )


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def make_data(n: int, seed: int = 7) -> Data:
    """n trade-shaped points with random vectors."""
    rng = np.random.default_rng(seed)
    text = unit_rows(rng, n, TEXT_DIM)
    market = np.clip(rng.standard_normal((n, MARKET_DIM)), -4, 4).astype(np.float32)
    strategy = rng.integers(0, STRATEGIES, n)
    pair = rng.integers(0, PAIRS, n)
    side = rng.integers(0, 2, n)
    ts = START.timestamp() + np.sort(rng.uniform(0, SPAN.total_seconds(), n))
    profit = rng.normal(0.2, 2.0, n)
    points = []
    for i in range(n):
        when = datetime.fromtimestamp(float(ts[i]), tz=UTC).isoformat()
        key = f"trade:bench-run:P{pair[i]}/BTC:{i}"
        text_line = (
            f"P{pair[i]}/BTC {SIDES[side[i]]} closed {profit[i]:+.2f}% after 3h by roi; "
            "entry in a sideways market, RSI 41"
        )
        payload: dict[str, Any] = {
            "key": key,
            "id": f"00000000-0000-5000-8000-{i:012d}",
            "kind": "trade",
            "type": "backtest",
            "text": text_line,
            "strategy": f"S{strategy[i]}",
            "timestamp": when,
            "created_at": when,
            "ts": float(ts[i]),
            "pair": f"P{pair[i]}/BTC",
            "timeframe": "5m",
            "exchange": "binance",
            "mode": "backtest",
            "run_id": "bench-run",
            "side": SIDES[side[i]],
            "enter_tag": None,
            "exit_reason": "roi",
            "tags": [],
            "metrics": {"profit": float(profit[i]), "duration": 180.0, "stake": 0.05},
            "data": {},
            "messages": [{"role": "system", "content": text_line}],
            "fingerprint_version": 1,
            "schema": 1,
        }
        points.append(
            StoredPoint(
                id=payload["id"],
                payload=payload,
                vectors={TEXT_VECTOR: text[i].tolist(), MARKET_VECTOR: market[i].tolist()},
            )
        )
    return Data(text, strategy, profit, ts, points)


def make_queries(data: Data, count: int, seed: int = 11) -> list[Query]:
    rng = np.random.default_rng(seed)
    vectors = unit_rows(rng, count, TEXT_DIM)
    early, middle, late = np.quantile(data.ts, [0.0, 0.3, 1.0])
    queries = []
    for i in range(count):
        profit_low = float(rng.uniform(-1.0, 1.0))
        queries.append(
            Query(
                vectors[i],
                int(rng.integers(0, STRATEGIES)),
                profit_low,
                profit_low + 1.5,
                float(rng.uniform(early, middle)),
                float(rng.uniform(middle, late) + (late - middle) * 0.4),
            )
        )
    return queries


def floor_search(data: Data, query: Query) -> np.ndarray:
    """The least work a filtered kNN can be: masks on arrays, one matrix product, a top-k."""
    rows = np.flatnonzero(
        (data.strategy == query.strategy)
        & (data.profit > query.profit_low)
        & (data.profit < query.profit_high)
        & (data.ts >= query.after)
        & (data.ts < query.before)
    )
    scores = data.text[rows] @ query.vector
    top = np.argpartition(-scores, LIMIT)[:LIMIT] if len(rows) > LIMIT else np.arange(len(rows))
    return rows[top[np.argsort(-scores[top])]]


def upsert_all(upsert: Callable[[list[StoredPoint]], None], points: list[StoredPoint]) -> float:
    """Points per second, written in outbox-sized batches."""

    def write() -> None:
        for i in range(0, len(points), BATCH):
            upsert(points[i : i + BATCH])

    return len(points) / timed(write)


def label(n: int) -> str:
    return f"{n // 1000}k points" if n >= 1000 else f"{n} points"


def bench_size(
    n: int, data: Data, queries: list[Query], tmp: Path, *, quick: bool, peer_full: bool
) -> list[Figure]:
    from freqtrade_mem0.stores.edge import EdgeStore
    from freqtrade_mem0.stores.qdrant import QdrantStore

    size = label(n)
    figures: list[Figure] = []
    searches = 50 if quick else 300
    warm = len(queries)  # steady state: every query once before timing, on every side

    # Qdrant Edge, as the embedded default writes and searches: searched as written (one
    # appendable segment), then after optimize(), which `freqtrade-mem0 optimize` runs.
    path = tmp / f"edge-{n}"
    edge = EdgeStore(path, SPEC)
    edge_rate = upsert_all(edge.upsert, data.points)
    progress(f"{size}: edge upsert {edge_rate:,.0f} points/s")
    query = itertools.cycle(queries).__next__
    written = Latency.of(samples(lambda: _search(edge, query()), searches, warmup=warm))
    progress(f"{size}: edge search as written p50 {written.p50:.2f} ms, p99 {written.p99:.2f} ms")
    optimize_s = timed(edge.optimize)
    progress(f"{size}: edge optimize {optimize_s:.1f} s")
    edge_search = Latency.of(samples(lambda: _search(edge, query()), searches, warmup=warm))
    progress(f"{size}: edge search p50 {edge_search.p50:.2f} ms, p99 {edge_search.p99:.2f} ms")
    recall = recall_at_k(edge, data, queries)
    progress(f"{size}: edge recall@{LIMIT} {recall:.3f} of the exact answers")
    edge.close()
    reopen_s = timed(lambda: _reopen_edge(EdgeStore, path, queries[0]))
    progress(f"{size}: edge reopen {reopen_s:.3f} s")

    # The floor: the same filtered kNN on numpy arrays already in memory.
    floor = Latency.of(samples(lambda: floor_search(data, query()), searches, warmup=warm))

    # The peer: qdrant-client local mode, in memory, through the package's QdrantStore.
    peer = QdrantStore(":memory:", SPEC)
    peer_rate = upsert_all(peer.upsert, data.points)
    cap = 3.0 if quick else (20.0 if peer_full else 8.0)
    peer_search = Latency.of(
        samples(lambda: _search(peer, query()), searches, warmup=1, max_seconds=cap)
    )
    peer.close()
    progress(f"{size}: peer upsert {peer_rate:,.0f} points/s, search p50 {peer_search.p50:.1f} ms")
    capped = (
        f"; the peer ran {peer_search.n} queries (capped at {cap:.0f} s)"
        if peer_search.n < searches
        else ""
    )
    note = (
        f"{searches} queries after {warm} warm-up ones{capped}; text vector, top {LIMIT}, "
        "~4 % of points match"
    )

    figures += [
        Figure(
            f"edge upsert, {size}",
            "points/s",
            edge_rate,
            better="higher",
            target=UPSERT_TARGET,
            peer=PEER,
            peer_value=peer_rate,
            note=f"batches of {BATCH}, payload indexes on, WAL durable per batch",
        ),
        Figure(
            f"edge filtered search p50 as written, {size}",
            "ms",
            written.p50,
            target=SEARCH_P50_TARGET.get(n),
            peer=PEER,
            peer_value=peer_search.p50,
            note=note + "; one appendable segment, before optimize()",
        ),
        Figure(
            f"edge filtered search p99 as written, {size}",
            "ms",
            written.p99,
            peer=PEER,
            peer_value=peer_search.p99,
        ),
        Figure(
            f"edge optimize, {size}",
            "s",
            optimize_s,
            note="optimize(): one optimized segment, int8 vectors in RAM, no HNSW graph",
        ),
        Figure(
            f"edge filtered search p50, {size}",
            "ms",
            edge_search.p50,
            peer=PEER,
            peer_value=peer_search.p50,
            note=note + "; after optimize(), rescored on the original vectors",
        ),
        Figure(
            f"edge filtered search p99, {size}",
            "ms",
            edge_search.p99,
            target=SEARCH_P99_TARGET.get(n),
            peer=PEER,
            peer_value=peer_search.p99,
        ),
        Figure(
            f"edge filtered search recall@{LIMIT}, {size}",
            "fraction",
            recall,
            better="higher",
            target=RECALL_TARGET,
            note=f"share of the exact top {LIMIT} (numpy floor) that the optimized store "
            f"returns, over {len(queries)} queries; random vectors, the hardest case for int8",
        ),
        Figure(
            f"edge filtered search p50 vs floor, {size}",
            "ms",
            edge_search.p50,
            peer=FLOOR,
            peer_value=floor.p50,
            note="the floor: boolean masks over arrays, one matrix product and a top-k; "
            "no payloads, no storage",
        ),
    ]
    figures.append(_reopen_figure(n, reopen_s, data, queries[0], tmp))
    return figures


def recall_at_k(store: Any, data: Data, queries: list[Query]) -> float:
    """Share of the exact filtered top-k (the floor's answer) that the store returns."""
    found = expected = 0
    for query in queries:
        exact = {data.points[row].id for row in floor_search(data, query)}
        got = {hit.point.id for hit in _search(store, query)}
        found += len(exact & got)
        expected += len(exact)
    return found / expected if expected else 1.0


def _search(store: Any, query: Query) -> Any:
    return store.search(query.vector.tolist(), using=TEXT_VECTOR, where=query.where(), limit=LIMIT)


def _reopen_edge(store_cls: Any, path: Path, query: Query) -> None:
    store = store_cls(path, SPEC)
    _search(store, query)
    store.close()


def _reopen_figure(n: int, reopen_s: float, data: Data, query: Query, tmp: Path) -> Figure:
    """Edge reopen; the peer's (local mode on a path) only at 10k points or fewer."""
    size = label(n)
    name = f"edge reopen + first search, {size}"
    note = "open the folder, answer one filtered search"
    if n > 10_000:
        return Figure(
            name,
            "s",
            reopen_s,
            target=REOPEN_TARGET,
            note=note + "; peer not measured at this size (writing 100k points to "
            "qdrant-client's local files takes minutes): see the 10k row",
        )
    peer_s = _peer_reopen(data, query, tmp / f"peer-{n}")
    progress(f"{size}: peer reopen {peer_s:.2f} s")
    return Figure(
        name,
        "s",
        reopen_s,
        target=REOPEN_TARGET,
        peer=f"{PEER} (path)",
        peer_value=peer_s,
        note=note,
    )


def _peer_reopen(data: Data, query: Query, path: Path) -> float:
    """qdrant-client local mode on a folder: write the points, close, time open + one search."""
    from qdrant_client import QdrantClient, models

    from freqtrade_mem0.query import to_qdrant_filter

    client = QdrantClient(path=str(path))
    client.create_collection(
        "bench",
        vectors_config={
            TEXT_VECTOR: models.VectorParams(size=TEXT_DIM, distance=models.Distance.COSINE),
            MARKET_VECTOR: models.VectorParams(size=MARKET_DIM, distance=models.Distance.EUCLID),
        },
    )
    for i in range(0, len(data.points), 1024):
        batch = [
            models.PointStruct(id=p.id, vector=dict(p.vectors), payload=p.payload)
            for p in data.points[i : i + 1024]
        ]
        client.upsert("bench", points=batch)
    client.close()

    def reopen() -> None:
        opened = QdrantClient(path=str(path))
        opened.query_points(
            "bench",
            query=query.vector.tolist(),
            using=TEXT_VECTOR,
            query_filter=to_qdrant_filter(query.where()),
            limit=LIMIT,
        )
        opened.close()

    return timed(reopen)


def run(quick: bool = False) -> list[Figure]:
    """Measure both sizes; quick: 1k and 10k points, fewer queries."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    # qdrant-client warns past 20k points in local mode; the figures' notes say as much.
    warnings.filterwarnings("ignore", message="Local mode is not recommended")
    tmp = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    figures: list[Figure] = []
    try:
        for n in sizes:
            started = time.perf_counter()
            data = make_data(n)
            queries = make_queries(data, 64)
            progress(f"{label(n)}: data ready in {time.perf_counter() - started:.1f} s")
            figures += bench_size(n, data, queries, tmp, quick=quick, peer_full=n <= 10_000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from bench.common import figures_table

    print(figures_table(run(quick=True)))
