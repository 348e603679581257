"""Recall latency: a k=50 recall with a time cut, a pair filter and the backtest scope, at 10k,
100k and 1M trade memories, against a numpy brute-force floor doing the least the same answer
needs (time cut, pair mask, distances, k nearest, a weighted win rate); and `mem0_recall_frame`
over 6,000 candles against 100k memories. Memories are synthetic: random fingerprints, ten
pairs, five-minute spacing, normal profits; queries at random times in the second half.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.common import Figure, Latency, progress, samples
from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import RecallSettings
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode
from freqtrade_mem0.query import eq
from freqtrade_mem0.recall import RecallIndex, recall_frame, scope_filter

BUDGET_SECONDS = 240
DIM = fingerprint.DIM
T0 = datetime(2020, 1, 1, tzinfo=UTC)
PAIRS = tuple(f"P{i}/BTC" for i in range(10))
K = 50


def build_index(n: int, seed: int = 0) -> tuple[RecallIndex, dict[str, np.ndarray]]:
    """An index of n synthetic trades, and the same data as plain arrays for the floor."""
    rng = np.random.default_rng(seed)
    market = rng.normal(size=(n, DIM))
    profit = rng.normal(0.2, 2.0, size=n)
    index = RecallIndex(DIM)
    step = 50_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        index.add(
            MemoryRecord(
                key=f"bench|{i}",
                kind=MemoryKind.TRADE,
                type=MemoryType.BACKTEST,
                text="-",
                strategy="Bench",
                pair=PAIRS[i % len(PAIRS)],
                side="long",
                mode=RunMode.BACKTEST,
                run_id="run-1",
                timestamp=T0 + timedelta(minutes=5 * i),
                metrics={"profit": float(profit[i]), "duration": 30.0},
                market=tuple(market[i]),
            )
            for i in range(start, stop)
        )
    arrays = {
        "ts": np.array([(T0 + timedelta(minutes=5 * i)).timestamp() for i in range(n)]),
        "pair": np.arange(n) % len(PAIRS),
        "market": market,
        "profit": profit,
    }
    return index, arrays


def floor_recall(arrays: dict[str, np.ndarray], vector: np.ndarray, at: float, pair: int) -> float:
    """The least work the same answer needs, in plain numpy."""
    cut = int(np.searchsorted(arrays["ts"], at, side="left"))
    rows = np.flatnonzero(arrays["pair"][:cut] == pair)
    difference = arrays["market"][rows] - vector
    distances = np.einsum("ij,ij->i", difference, difference)
    nearest = np.argpartition(distances, K - 1)[:K]
    weights = np.exp2(-(at - arrays["ts"][rows[nearest]]) / (90 * 86_400.0))
    return float((weights * (arrays["profit"][rows[nearest]] > 0)).sum() / weights.sum())


def run(quick: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    for n in (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000):
        figures += measure(n, quick)
    return figures


def measure(n: int, quick: bool) -> list[Figure]:
    """Recall p50/p99 at `n` memories against the floor (and the frame figure at 100k)."""
    scope = scope_filter("run", "Bench", "run-1")
    settings = RecallSettings(k=K)
    started = time.perf_counter()
    index, arrays = build_index(n)
    progress(f"{n:,} memories indexed in {time.perf_counter() - started:.1f}s")
    rng = np.random.default_rng(1)
    queries = [
        (rng.normal(size=DIM), T0 + timedelta(minutes=5 * int(rng.integers(n // 2, n))), p)
        for p in rng.integers(0, len(PAIRS), size=400)
    ]
    filters = [eq("pair", pair) for pair in PAIRS]
    calls = iter(queries * 4)
    floor_calls = iter(queries * 4)

    def ours() -> None:
        vector, at, pair = next(calls)
        index.recall(vector, at, where=filters[pair], scope=scope, settings=settings)

    def floor() -> None:
        vector, at, pair = next(floor_calls)
        floor_recall(arrays, vector, at.timestamp(), int(pair))

    # The first recall with a filter evaluates it over every memory (then cached until
    # memories are added): timed on its own, once per pair, so that the figures below are the
    # steady state a strategy sees after its first call with each filter.
    cold = []
    for pair, where in enumerate(filters):
        vector, at, _ = queries[pair]
        started = time.perf_counter()
        index.recall(vector, at, where=where, scope=scope, settings=settings)
        cold.append(time.perf_counter() - started)
    cold_latency = Latency.of(cold)
    count = 200 if quick else 400
    ours_latency = Latency.of(samples(ours, count, warmup=5))
    floor_latency = Latency.of(samples(floor, count, warmup=5))
    progress(
        f"{n:,}: recall p50 {ours_latency.p50:.3f} ms p99 {ours_latency.p99:.3f} ms; "
        f"floor p50 {floor_latency.p50:.3f} ms p99 {floor_latency.p99:.3f} ms"
    )
    size = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    note = (
        f"k={K}, time cut, pair filter (1 in 10), backtest scope; {ours_latency.n} calls, "
        "after the first call with each filter"
    )
    figures = [
        Figure(
            f"recall {stat}, {size} memories",
            "ms",
            getattr(ours_latency, stat),
            target=1.0 if n == 100_000 and stat == "p99" else None,
            peer="numpy brute-force floor",
            peer_value=getattr(floor_latency, stat),
            note=note,
        )
        for stat in ("p50", "p99")
    ]
    figures.append(
        Figure(
            f"recall, first call with a new filter, {size} memories",
            "ms",
            cold_latency.p50,
            note=f"median over the {len(filters)} pair filters; evaluates the filter over "
            "every memory once, then cached until memories are added",
        )
    )
    if n == 100_000:
        figures.append(frame_figure(index, quick))
    return figures


def frame_figure(index: RecallIndex, quick: bool) -> Figure:
    """`recall_frame` over 6,000 candles of one pair against every memory."""
    rng = np.random.default_rng(2)
    candles = 6_000
    vectors = rng.normal(size=(candles, DIM))
    last = index.columns.ts.view[-1]
    times = last - 300.0 * np.arange(candles)[::-1]
    scope = scope_filter("run", "Bench", "run-1")
    where = eq("pair", PAIRS[3])
    repeats = 1 if quick else 3
    seconds = min(
        samples(
            lambda: recall_frame(index, vectors, times, where=where, scope=scope),
            repeats,
            warmup=0,
        )
    )
    progress(f"recall frame, {candles:,} candles x 100k memories: {seconds:.2f}s")
    return Figure(
        "mem0_recall_frame, 6,000 candles x 100k memories",
        "s",
        seconds,
        target=2.0,
        note=f"k={K}, pair filter, backtest scope; best of {repeats}",
    )


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure)
