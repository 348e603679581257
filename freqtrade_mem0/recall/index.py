"""The in-process recall index: k nearest past trades in market-fingerprint space, point-in-time.

Loaded once from the store, appended as trades close; a recall does no I/O. A recall at time
`t` sees only memories with `timestamp < t` (rows are kept sorted by time, so that is a prefix),
then the scope and filter, then the k nearest fingerprints by Euclidean distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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
    neighbours: tuple[Neighbour, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, JSON-ready (non-finite numbers become None)."""
        raw = asdict(self)
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


class RecallIndex:
    """Trade memories in memory, for sub-millisecond point-in-time recall."""

    def __init__(self, dim: int) -> None:
        self.columns = TradeColumns(dim)
        self._seen: set[str] = set()

    def __len__(self) -> int:
        return len(self.columns)

    def add(self, records: Iterable[MemoryRecord]) -> int:
        """Add trade memories (others, and ones already held, are skipped); returns how many."""
        fresh: list[MemoryRecord] = []
        for record in records:
            if is_recallable(record) and record.id not in self._seen:
                self._seen.add(record.id)
                fresh.append(record)
        self.columns.append(fresh)
        return len(fresh)

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
        columns = self.columns
        cut = columns.cut(at)
        visible = slice(0, cut)
        in_scope = columns.mask(scope, visible)
        prior_rows = np.flatnonzero(in_scope)
        prior_profit = columns.profit.view[prior_rows]
        prior_profit = prior_profit[~np.isnan(prior_profit)]
        prior_n = int(prior_profit.size)
        prior = float((prior_profit > 0).mean()) if prior_n else 0.5
        rows = prior_rows
        if where is not None and rows.size:
            rows = rows[columns.mask(where, rows)]
        if vector is None or not np.isfinite(vector).all():
            return empty_result(at, "no market fingerprint now (warm-up)", prior, prior_n, settings)
        market = columns.market.view[rows]
        usable = ~np.isnan(market[:, 0]) & ~np.isnan(columns.profit.view[rows])
        rows, market = rows[usable], market[usable]
        if rows.size == 0:
            return empty_result(at, "no comparable past trades", prior, prior_n, settings)
        distances = np.sqrt(((market - vector) ** 2).sum(axis=1))
        k = min(settings.k, rows.size)
        nearest = np.argpartition(distances, k - 1)[:k] if k < rows.size else np.arange(rows.size)
        nearest = nearest[np.argsort(distances[nearest], kind="stable")]
        return self._summarise(
            rows[nearest], distances[nearest], market, at, prior, prior_n, settings
        )

    def _summarise(
        self,
        rows: np.ndarray,
        distances: np.ndarray,
        candidates: np.ndarray,
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
        typical = typical_distance(candidates)
        nearest = float(distances[0])
        dissimilarity = nearest / typical if typical > 0 else (0.0 if nearest == 0 else math.inf)
        reason = ""
        if n_eff < settings.min_n_eff:
            reason = f"effective sample {n_eff:.1f} < {settings.min_n_eff:g}"
        elif dissimilarity > settings.max_dissimilarity:
            reason = f"dissimilarity {dissimilarity:.2f} > {settings.max_dissimilarity:g}"
        neighbours = tuple(
            Neighbour(
                id=columns.ids[row],
                pair=columns.word("pair", int(columns.codes["pair"].view[row])),
                side=columns.word("side", int(columns.codes["side"].view[row])),
                time=datetime.fromtimestamp(float(columns.ts.view[row]), tz=UTC),
                distance=float(distance),
                profit=float(profit),
                weight=float(weight),
            )
            for row, distance, profit, weight in zip(rows, distances, profits, weights, strict=True)
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
            neighbours=neighbours,
        )


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
