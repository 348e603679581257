"""The in-process recall index: k nearest past trades in market-fingerprint space, point-in-time.

Loaded once from the store, appended as trades close; a recall does no I/O. A recall at time
`t` sees only memories with `timestamp < t` (rows are kept sorted by time, so that is a prefix),
then the scope and filter, then the k nearest fingerprints by Euclidean distance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import numpy as np

from freqtrade_mem0.config import RecallSettings
from freqtrade_mem0.models import MemoryKind, MemoryRecord, RunMode
from freqtrade_mem0.query import Node, and_, any_of, eq, or_
from freqtrade_mem0.recall.columns import TradeColumns
from freqtrade_mem0.recall.statistics import (
    decay_weights,
    kish_n_eff,
    profit_factor,
    shrunk_rate,
    weighted_median,
    wilson_interval,
)

Scope = Literal["run", "strategy", "all"]
REAL_TIME_MODES = (RunMode.LIVE.value, RunMode.DRY_RUN.value)
TYPICAL_SAMPLE = 64  # memories sampled to estimate the typical distance between two memories


def scope_filter(scope: Scope, strategy: str | None, run_id: str | None) -> Node | None:
    """What a scope sees: `run` (this run's trades plus live/dry ones of the strategy),
    `strategy` (every trade of the strategy), `all` (every trade)."""
    if scope == "all" or strategy is None:
        return None
    mine = eq("strategy", strategy)
    if scope == "strategy":
        return mine
    real = any_of("mode", REAL_TIME_MODES)
    return and_(mine, or_(eq("run_id", run_id), real) if run_id else real)


@dataclass(frozen=True)
class Neighbour:
    """One past trade found by a recall."""

    id: str
    pair: str | None
    side: str | None
    time: datetime
    distance: float
    profit: float
    weight: float


@dataclass(frozen=True)
class RecallResult:
    """How past trades in similar market conditions did (see docs/recall.md)."""

    at: datetime
    n: int
    n_eff: float
    wins: int
    losses: int
    win_rate: float
    win_rate_low: float
    win_rate_high: float
    shrunk_win_rate: float
    prior_win_rate: float
    prior_n: int
    mean_profit: float
    median_profit: float
    expectancy: float
    profit_factor: float
    mean_duration: float
    nearest_distance: float
    typical_distance: float
    dissimilarity: float
    sufficient: bool
    reason: str
    # Neighbours are built on first access: most callers read only the statistics.
    neighbour_source: Callable[[], tuple[Neighbour, ...]] = field(
        default=tuple, repr=False, compare=False
    )

    @cached_property
    def neighbours(self) -> tuple[Neighbour, ...]:
        """The past trades found, nearest first."""
        return self.neighbour_source()

    def as_dict(self) -> dict[str, Any]:
        """Plain values, JSON-ready (non-finite numbers become None)."""
        raw = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "neighbour_source"}
        raw["neighbours"] = [asdict(n) for n in self.neighbours]
        return _json_safe(raw)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def is_recallable(record: MemoryRecord) -> bool:
    """Recall learns from whole closed trades (a partial exit would count a trade twice)."""
    return record.kind is MemoryKind.TRADE and "partial_exit" not in record.data


@dataclass(frozen=True)
class _Candidates:
    """One (scope, filter) pair evaluated over every row, reused until rows change.

    The rows are sorted by time, so a time cut keeps a prefix of `rows` and of `market`: a
    recall does a binary search and slices, and never re-evaluates a filter or copies columns.
    """

    rows: np.ndarray  # rows matching scope and filter, with a fingerprint and a profit
    market: np.ndarray  # their fingerprints, contiguous
    prior_known: np.ndarray  # cumulative count of in-scope rows with a profit
    prior_wins: np.ndarray  # cumulative count of in-scope winning rows
    typicals: dict[int, float] = field(default_factory=dict)

    def typical(self, visible: int) -> float:
        """Typical distance between two of the first `visible` candidates (memoised)."""
        prefix = typical_prefix(visible)
        if prefix not in self.typicals:
            self.typicals[prefix] = typical_distance(self.market[:prefix])
        return self.typicals[prefix]


class RecallIndex:
    """Trade memories in memory, for sub-millisecond point-in-time recall."""

    CACHE_SIZE = 16  # (scope, filter) pairs kept evaluated; strategies use a handful

    def __init__(self, dim: int) -> None:
        self.columns = TradeColumns(dim)
        self._seen: set[str] = set()
        self._cache: dict[tuple[Node | None, Node | None], _Candidates] = {}

    def __len__(self) -> int:
        return len(self.columns)

    def add(self, records: Iterable[MemoryRecord]) -> int:
        """Add trade memories (others, and ones already held, are skipped); returns how many."""
        fresh: list[MemoryRecord] = []
        for record in records:
            if is_recallable(record) and record.id not in self._seen:
                self._seen.add(record.id)
                fresh.append(record)
        if fresh:
            self.columns.append(fresh)
            self._cache.clear()
        return len(fresh)

    def _candidates(self, scope: Node | None, where: Node | None) -> _Candidates:
        key = (scope, where)
        try:
            cached = self._cache.get(key)
        except TypeError:  # a node holding something unhashable: evaluate without caching
            return self._evaluate(scope, where)
        if cached is None:
            cached = self._evaluate(scope, where)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = cached
        return cached

    def _evaluate(self, scope: Node | None, where: Node | None) -> _Candidates:
        columns = self.columns
        columns.ensure_sorted()
        everything = slice(0, len(columns))
        in_scope = columns.mask(scope, everything)
        profit = columns.profit.view
        known = in_scope & ~np.isnan(profit)
        with np.errstate(invalid="ignore"):
            wins = known & (profit > 0)
        usable = known & ~np.isnan(columns.market.view[:, 0])
        if where is not None:
            usable &= columns.mask(where, everything)
        rows = np.flatnonzero(usable)
        return _Candidates(
            rows=rows,
            market=np.ascontiguousarray(columns.market.view[rows]),
            prior_known=np.concatenate(([0], np.cumsum(known))),
            prior_wins=np.concatenate(([0], np.cumsum(wins))),
        )

    def recall(
        self,
        vector: np.ndarray | None,
        at: datetime,
        *,
        where: Node | None = None,
        scope: Node | None = None,
        settings: RecallSettings | None = None,
    ) -> RecallResult:
        """The k nearest trades known before `at` (scope and filter applied) and their stats.

        Args:
            vector: market fingerprint now (None: statistics of the prior only).
            at: the current time (simulated in backtests); only memories before it count.
            where: a filter in the query language's AST (e.g. `pair:ADA/BTC`).
            scope: which memories may be seen at all (see `scope_filter`).
            settings: k, decay, prior strength and sufficiency thresholds.
        """
        settings = settings or RecallSettings()
        cut = self.columns.cut(at)
        candidates = self._candidates(scope, where)
        prior_n = int(candidates.prior_known[cut])
        prior = float(candidates.prior_wins[cut]) / prior_n if prior_n else 0.5
        if vector is None or not np.isfinite(vector).all():
            return empty_result(at, "no market fingerprint now (warm-up)", prior, prior_n, settings)
        visible = int(np.searchsorted(candidates.rows, cut, side="left"))
        if visible == 0:
            return empty_result(at, "no comparable past trades", prior, prior_n, settings)
        rows, market = candidates.rows[:visible], candidates.market[:visible]
        difference = market - vector
        distances = np.sqrt(np.einsum("ij,ij->i", difference, difference))
        k = min(settings.k, visible)
        nearest = np.argpartition(distances, k - 1)[:k] if k < visible else np.arange(visible)
        nearest = nearest[np.argsort(distances[nearest], kind="stable")]
        return self._summarise(
            rows[nearest],
            distances[nearest],
            candidates.typical(visible),
            at,
            prior,
            prior_n,
            settings,
        )

    def _summarise(
        self,
        rows: np.ndarray,
        distances: np.ndarray,
        typical: float,
        at: datetime,
        prior: float,
        prior_n: int,
        settings: RecallSettings,
    ) -> RecallResult:
        columns = self.columns
        profits = columns.profit.view[rows]
        weights = decay_weights(at.timestamp() - columns.ts.view[rows], settings.half_life_days)
        total = float(weights.sum())
        wins_mask = profits > 0
        n_eff = kish_n_eff(weights)
        win_rate = float(weights[wins_mask].sum()) / total if total > 0 else math.nan
        low, high = wilson_interval(win_rate, n_eff) if total > 0 else (0.0, 1.0)
        durations = columns.duration.view[rows]
        known = ~np.isnan(durations)
        nearest = float(distances[0])
        dissimilarity = nearest / typical if typical > 0 else (0.0 if nearest == 0 else math.inf)
        reason = ""
        if n_eff < settings.min_n_eff:
            reason = f"effective sample {n_eff:.1f} < {settings.min_n_eff:g}"
        elif dissimilarity > settings.max_dissimilarity:
            reason = f"dissimilarity {dissimilarity:.2f} > {settings.max_dissimilarity:g}"

        # Copied now, turned into objects on first access (rows may be re-sorted later).
        ids = [columns.ids[row] for row in rows]
        pairs = [columns.word("pair", int(code)) for code in columns.codes["pair"].view[rows]]
        sides = [columns.word("side", int(code)) for code in columns.codes["side"].view[rows]]
        times = columns.ts.view[rows].copy()

        def neighbours() -> tuple[Neighbour, ...]:
            return tuple(
                Neighbour(
                    id=ids[i],
                    pair=pairs[i],
                    side=sides[i],
                    time=datetime.fromtimestamp(float(times[i]), tz=UTC),
                    distance=float(distances[i]),
                    profit=float(profits[i]),
                    weight=float(weights[i]),
                )
                for i in range(len(ids))
            )

        expectancy = float(np.dot(weights, profits)) / total if total > 0 else math.nan
        return RecallResult(
            at=at,
            n=int(rows.size),
            n_eff=n_eff,
            wins=int(wins_mask.sum()),
            losses=int((profits < 0).sum()),
            win_rate=win_rate,
            win_rate_low=low,
            win_rate_high=high,
            shrunk_win_rate=shrunk_rate(win_rate, n_eff, prior, settings.prior_strength),
            prior_win_rate=prior,
            prior_n=prior_n,
            mean_profit=float(profits.mean()),
            median_profit=weighted_median(profits, weights),
            expectancy=expectancy,
            profit_factor=profit_factor(profits, weights),
            mean_duration=float(durations[known].mean()) if known.any() else math.nan,
            nearest_distance=nearest,
            typical_distance=typical,
            dissimilarity=dissimilarity,
            sufficient=not reason,
            reason=reason,
            neighbour_source=neighbours,
        )


def typical_prefix(visible: int) -> int:
    """How many of the oldest visible memories estimate the typical distance: the largest
    power of two up to `visible`. Only past memories count, and the estimate changes about
    log2(n) times over a run instead of at every trade."""
    visible = int(visible)
    return 1 << (visible.bit_length() - 1) if visible > 0 else 0


def typical_distance(market: np.ndarray) -> float:
    """Median distance between two memories, from an evenly spaced sample (deterministic)."""
    if len(market) < 2:
        return math.nan
    step = max(1, len(market) // TYPICAL_SAMPLE)
    sample = market[::step][:TYPICAL_SAMPLE]
    squared = (sample * sample).sum(axis=1)
    gram = squared[:, None] + squared[None, :] - 2.0 * sample @ sample.T
    upper = np.triu_indices(len(sample), k=1)
    return float(np.sqrt(np.median(np.maximum(gram[upper], 0.0))))


def empty_result(
    at: datetime,
    reason: str,
    prior: float = math.nan,
    prior_n: int = 0,
    settings: RecallSettings | None = None,
) -> RecallResult:
    """An insufficient result that says why."""
    settings = settings or RecallSettings()
    return RecallResult(
        at=at,
        n=0,
        n_eff=0.0,
        wins=0,
        losses=0,
        win_rate=math.nan,
        win_rate_low=0.0,
        win_rate_high=1.0,
        shrunk_win_rate=prior if settings.prior_strength > 0 else math.nan,
        prior_win_rate=prior,
        prior_n=prior_n,
        mean_profit=math.nan,
        median_profit=math.nan,
        expectancy=math.nan,
        profit_factor=math.nan,
        mean_duration=math.nan,
        nearest_distance=math.nan,
        typical_distance=math.nan,
        dissimilarity=math.inf,
        sufficient=False,
        reason=reason,
    )
