"""Vectorised recall for `populate_*`: one recall per candle, each seeing only its own past.

Rows are processed in chunks: distances from a chunk's fingerprints to every candidate memory
come from one matrix product; memories not yet known at a row's candle are masked out before
its k nearest are chosen, so row i never sees what happened after its candle closed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from freqtrade_mem0.config import RecallSettings
from freqtrade_mem0.query import Node
from freqtrade_mem0.recall.index import RecallIndex, typical_distance, typical_prefix
from freqtrade_mem0.recall.statistics import Z95

CHUNK = 256
COLUMNS = (
    "mem0_n",
    "mem0_n_eff",
    "mem0_win_rate",
    "mem0_win_rate_low",
    "mem0_win_rate_high",
    "mem0_expectancy",
    "mem0_dissimilarity",
)


def recall_frame(
    index: RecallIndex,
    vectors: np.ndarray,
    times: np.ndarray,
    *,
    where: Node | None = None,
    scope: Node | None = None,
    settings: RecallSettings | None = None,
) -> pd.DataFrame:
    """Recall statistics for many (fingerprint, time) pairs at once.

    Args:
        index: the recall index.
        vectors: (m, DIM) fingerprints; NaN rows (warm-up) get NaN results.
        times: (m,) epoch seconds at which each row's candle closed (its point in time).
        where: a filter; scope: which memories may be seen (see `scope_filter`).
        settings: k, decay and thresholds.

    Returns:
        A frame with the `COLUMNS`, one row per input row.
    """
    settings = settings or RecallSettings()
    columns = index.columns
    columns.ensure_sorted()
    everything = slice(0, len(columns))
    mask = columns.mask(scope, everything) & columns.mask(where, everything)
    rows = np.flatnonzero(
        mask & ~np.isnan(columns.market.view[:, 0]) & ~np.isnan(columns.profit.view)
    )
    market = columns.market.view[rows]
    stamps = columns.ts.view[rows]
    profits = columns.profit.view[rows]
    out = np.full((len(vectors), len(COLUMNS)), np.nan)
    out[:, 0] = 0.0
    valid = np.flatnonzero(np.isfinite(vectors).all(axis=1))
    cuts = np.searchsorted(stamps, times[valid], side="left")  # strictly before the candle close
    norms = (market * market).sum(axis=1)
    typicals: dict[int, float] = {}

    def _typical(cut: int) -> float:
        prefix = typical_prefix(cut)
        if prefix not in typicals:  # many candles share a prefix: compute each once
            typicals[prefix] = typical_distance(market[:prefix])
        return typicals[prefix]

    for start in range(0, valid.size, CHUNK):
        chunk = valid[start : start + CHUNK]
        chunk_cuts = cuts[start : start + CHUNK]
        width = int(chunk_cuts.max(initial=0))
        if width == 0:
            continue
        queries = vectors[chunk]
        squared = (
            (queries * queries).sum(axis=1)[:, None]
            + norms[None, :width]
            - 2.0 * queries @ market[:width].T
        )
        squared[np.arange(width)[None, :] >= chunk_cuts[:, None]] = np.inf
        k = min(settings.k, width)
        nearest = (
            np.argpartition(squared, k - 1, axis=1)[:, :k]
            if k < width
            else (np.broadcast_to(np.arange(width), (len(chunk), width)))
        )
        near_sq = np.take_along_axis(squared, nearest, axis=1)
        known = np.isfinite(near_sq)
        ages = times[chunk][:, None] - stamps[nearest]
        weights = np.where(known, _decay(ages, settings.half_life_days), 0.0)
        wins = np.where(known, profits[nearest] > 0, False)
        total = weights.sum(axis=1)
        n = known.sum(axis=1)
        n_eff = np.divide(
            total**2, (weights**2).sum(axis=1), out=np.zeros_like(total), where=total > 0
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (weights * wins).sum(axis=1) / total
            expectancy = (weights * np.where(known, profits[nearest], 0.0)).sum(axis=1) / total
            low, high = _wilson(rate, n_eff)
            nearest_distance = np.sqrt(np.maximum(np.where(known, near_sq, np.inf).min(axis=1), 0))
        typical = np.array([_typical(cut) for cut in chunk_cuts])
        with np.errstate(invalid="ignore", divide="ignore"):
            dissimilarity = nearest_distance / typical
        out[chunk] = np.column_stack([n, n_eff, rate, low, high, expectancy, dissimilarity])
    return pd.DataFrame(out, columns=list(COLUMNS))


def _decay(ages: np.ndarray, half_life_days: float | None) -> np.ndarray:
    if half_life_days is None:
        return np.ones_like(ages)
    return np.exp2(-np.maximum(ages, 0.0) / (half_life_days * 86_400.0))


def _wilson(rate: np.ndarray, n_eff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z2 = Z95 * Z95
    denominator = 1.0 + z2 / n_eff
    centre = (rate + z2 / (2.0 * n_eff)) / denominator
    half = Z95 * np.sqrt(rate * (1.0 - rate) / n_eff + z2 / (4.0 * n_eff * n_eff)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
