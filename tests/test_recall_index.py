"""The recall index: point-in-time, exact k-NN, honest statistics, scopes and filters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import RecallSettings
from freqtrade_mem0.models import MemoryKind, RunMode
from freqtrade_mem0.query import parse
from freqtrade_mem0.recall import RecallIndex, recall_frame, scope_filter
from freqtrade_mem0.recall.statistics import kish_n_eff, shrunk_rate, wilson_interval
from tests.factories import trade

DIM = fingerprint.DIM
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NO_DECAY = RecallSettings(half_life_days=None, k=10, min_n_eff=3, max_dissimilarity=10.0)


def random_trades(n: int, seed: int = 0, **overrides: object) -> list:
    rng = np.random.default_rng(seed)
    return [
        trade(
            i,
            key=f"rnd-{seed}-{i}",
            timestamp=T0 + timedelta(minutes=30 * i),
            market=tuple(rng.normal(size=DIM)),
            metrics={
                "profit": float(rng.normal(0.2, 2.0)),
                "duration": float(rng.integers(5, 500)),
            },
            **overrides,
        )
        for i in range(n)
    ]


def test_planted_future_memories_are_never_returned() -> None:
    index = RecallIndex(DIM)
    past = random_trades(200)
    index.add(past)
    at = past[100].timestamp
    probe = np.ones(DIM)
    future = [
        trade(
            1000 + i,
            key=f"future-{i}",
            timestamp=at + timedelta(seconds=i),
            market=tuple(probe),
            metrics={"profit": 99.0},
        )
        for i in range(20)
    ]
    index.add(future)
    result = index.recall(probe, at, settings=NO_DECAY)
    assert all(n.time < at for n in result.neighbours)
    assert all(n.profit != 99.0 for n in result.neighbours)
    assert result.nearest_distance > 0.0  # the exact-match planted memories stayed invisible


def test_result_at_t_does_not_change_when_later_memories_arrive() -> None:
    index = RecallIndex(DIM)
    history = random_trades(300, seed=3)
    index.add(history[:150])
    at = history[150].timestamp
    probe = np.asarray(history[10].market)
    before = index.recall(probe, at, settings=NO_DECAY)
    index.add(reversed(history[150:]))  # out of time order on purpose
    after = index.recall(probe, at, settings=NO_DECAY)
    assert before == after


def test_neighbours_are_the_exact_k_nearest() -> None:
    index = RecallIndex(DIM)
    history = random_trades(500, seed=5)
    index.add(history)
    probe = np.random.default_rng(9).normal(size=DIM)
    result = index.recall(probe, T0 + timedelta(days=365), settings=NO_DECAY)
    distances = sorted(float(np.linalg.norm(np.asarray(r.market) - probe)) for r in history)
    assert [n.distance for n in result.neighbours] == pytest.approx(distances[:10])


def test_statistics_without_decay_match_hand_computation() -> None:
    index = RecallIndex(DIM)
    profits = [2.0, -1.0, 3.0, -0.5, 1.0, 4.0]
    index.add(
        trade(
            i,
            key=f"s{i}",
            timestamp=T0 + timedelta(hours=i),
            market=tuple([0.1 * i] * DIM),
            metrics={"profit": p, "duration": 60.0},
        )
        for i, p in enumerate(profits)
    )
    result = index.recall(
        np.zeros(DIM),
        T0 + timedelta(days=1),
        scope=None,
        settings=NO_DECAY.model_copy(update={"k": 6}),
    )
    assert result.n == 6
    assert result.n_eff == pytest.approx(6.0)
    assert result.wins == 4 and result.losses == 2
    assert result.win_rate == pytest.approx(4 / 6)
    assert (result.win_rate_low, result.win_rate_high) == pytest.approx(wilson_interval(4 / 6, 6))
    assert result.expectancy == pytest.approx(np.mean(profits))
    assert result.profit_factor == pytest.approx(10.0 / 1.5)
    assert result.mean_duration == 60.0
    assert result.prior_win_rate == pytest.approx(4 / 6)
    assert result.shrunk_win_rate == pytest.approx(shrunk_rate(4 / 6, 6, 4 / 6, 10))
    assert result.neighbours[0].distance == 0.0


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0.5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0.0, 0) == (0.0, 1.0)


def test_decay_lowers_effective_sample_size_on_the_simulated_clock() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(40, seed=1))
    at = T0 + timedelta(days=30)
    decayed = index.recall(np.zeros(DIM), at, settings=RecallSettings(k=40, half_life_days=1.0))
    flat = index.recall(np.zeros(DIM), at, settings=RecallSettings(k=40, half_life_days=None))
    assert flat.n_eff == pytest.approx(40)
    assert decayed.n_eff < flat.n_eff
    weights = np.array([n.weight for n in decayed.neighbours])
    assert decayed.n_eff == pytest.approx(kish_n_eff(weights))


def test_scopes() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(10, seed=1, run_id="run-A", strategy="S"))
    index.add(random_trades(10, seed=2, run_id="run-B", strategy="S"))
    index.add(random_trades(10, seed=3, run_id="live:bot", strategy="S", mode=RunMode.LIVE))
    index.add(random_trades(10, seed=4, run_id="run-C", strategy="Other"))
    at = T0 + timedelta(days=10)
    settings = RecallSettings(k=100, half_life_days=None)

    def seen(scope: str) -> int:
        return index.recall(
            np.zeros(DIM),
            at,
            scope=scope_filter(scope, "S", "run-A"),  # type: ignore[arg-type]
            settings=settings,
        ).n

    assert seen("run") == 20
    assert seen("strategy") == 30
    assert seen("all") == 40


def test_filters_use_the_query_language() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(90, seed=7))
    result = index.recall(
        np.zeros(DIM),
        T0 + timedelta(days=10),
        where=parse("pair:ADA/BTC AND side:long").where,
        settings=RecallSettings(k=100, half_life_days=None),
    )
    assert result.n == sum(1 for i in range(90) if i % 3 == 0 and i % 2 == 0)
    assert {(n.pair, n.side) for n in result.neighbours} == {("ADA/BTC", "long")}


def test_insufficient_when_few_or_dissimilar() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(5, seed=2))
    few = index.recall(
        np.zeros(DIM),
        T0 + timedelta(days=1),
        settings=RecallSettings(min_n_eff=8, half_life_days=None),
    )
    assert not few.sufficient and "effective sample" in few.reason
    index.add(random_trades(100, seed=4))
    far = index.recall(
        np.full(DIM, 50.0), T0 + timedelta(days=10), settings=RecallSettings(half_life_days=None)
    )
    assert not far.sufficient and "dissimilarity" in far.reason
    assert far.dissimilarity > 1.0


def test_no_fingerprint_now_is_insufficient_not_an_error() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(20))
    result = index.recall(None, T0 + timedelta(days=1))
    assert not result.sufficient and result.n == 0
    assert math.isnan(result.win_rate)


def test_partial_exits_duplicates_and_non_trades_are_skipped() -> None:
    index = RecallIndex(DIM)
    base = random_trades(3)
    partial = trade(50, key="partial", data={"partial_exit": 1})
    note = trade(51, key="note", kind=MemoryKind.ANALYSIS)
    assert index.add([*base, *base, partial, note]) == 3
    assert len(index) == 3


def test_frame_rows_equal_single_recalls() -> None:
    index = RecallIndex(DIM)
    index.add(random_trades(400, seed=11))
    rng = np.random.default_rng(12)
    vectors = rng.normal(size=(60, DIM))
    vectors[0] = np.nan  # warm-up row
    times = np.array([(T0 + timedelta(hours=3 * i)).timestamp() for i in range(60)])
    settings = RecallSettings(k=15, half_life_days=5.0)
    scope = scope_filter("run", "Alpha", "run-1")
    frame = recall_frame(index, vectors, times, scope=scope, settings=settings)
    assert np.isnan(frame.loc[0, "mem0_win_rate"])
    for row in (1, 7, 30, 59):
        at = datetime.fromtimestamp(times[row], tz=UTC)
        single = index.recall(vectors[row], at, scope=scope, settings=settings)
        assert frame.loc[row, "mem0_n"] == single.n
        if single.n:
            assert frame.loc[row, "mem0_n_eff"] == pytest.approx(single.n_eff)
            assert frame.loc[row, "mem0_win_rate"] == pytest.approx(single.win_rate)
            assert frame.loc[row, "mem0_win_rate_low"] == pytest.approx(single.win_rate_low)
            assert frame.loc[row, "mem0_expectancy"] == pytest.approx(single.expectancy)
            assert frame.loc[row, "mem0_dissimilarity"] == pytest.approx(single.dissimilarity)
