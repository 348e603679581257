"""Tests for "this group of trades did differently from the rest", and their multiplicity control.

- `permutation_pvalues`: for many groups (cells) of one population at once, the two-sided
  permutation p-value of "the mean outcome in the cell differs from the mean outside it". It
  makes no assumption about the outcome's distribution (trade profits are skewed and fat-tailed).
- `benjamini_hochberg`: q-values that control the false discovery rate over all cells tested.
- `bootstrap_mean_interval`: a percentile bootstrap interval for a cell's mean.
- `kmeans`: seeded k-means++ for market regions (fingerprints are already unit scale).
"""

from __future__ import annotations

import numpy as np

_CHUNK_ELEMENTS = 4_000_000  # permuted values held at once (32 MB of float64)


def permutation_pvalues(
    values: np.ndarray, masks: np.ndarray, *, resamples: int = 9_999, seed: int = 0
) -> np.ndarray:
    """Two-sided permutation p-values, one per cell, for a difference in means.

    Under the null hypothesis the cell's members are a random draw from the population; the
    statistic |sum in cell - size x population mean| is compared with the same for `resamples`
    random permutations. A random permutation's first m values are a random m-subset, so one set
    of permutations (their running sums) serves every cell.

    Args:
        values: the outcome per member of the population, shape (n,).
        masks: boolean membership, shape (cells, n); every cell non-empty.
        resamples: random permutations.
        seed: seed of the permutations (the same seed gives the same p-values).

    Returns:
        p-values in (0, 1], `(1 + exceedances) / (1 + resamples)` (never 0: a finite test).
    """
    y = np.asarray(values, dtype=np.float64)
    cells = np.asarray(masks, dtype=bool).reshape(-1, y.size)
    sizes = cells.sum(axis=1)
    if (sizes == 0).any():
        raise ValueError("every cell needs at least one member")
    centre = float(y.mean()) if y.size else 0.0
    observed = np.abs(cells.astype(np.float64) @ y - sizes * centre)
    tolerance = 1e-9 * (np.abs(y).sum() + 1.0)  # equal sums must count as reaching the observed
    exceed = np.zeros(len(cells), dtype=np.int64)
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_ELEMENTS // max(y.size, 1))
    done = 0
    while done < resamples:
        block = min(step, resamples - done)
        shuffled = rng.permuted(np.tile(y, (block, 1)), axis=1)
        running = np.cumsum(shuffled, axis=1)[:, sizes - 1]  # (block, cells)
        exceed += (np.abs(running - sizes * centre) >= observed - tolerance).sum(axis=0)
        done += block
    return np.asarray((1.0 + exceed) / (1.0 + resamples))


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values).

    Calling every cell with q < alpha a finding keeps the expected share of false findings
    among them at or below alpha (for independent or positively dependent tests).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(adjusted, 1.0)
    return q


def bootstrap_mean_interval(
    values: np.ndarray, *, resamples: int = 2_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs for an empty sample)."""
    y = np.asarray(values, dtype=np.float64)
    if y.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_ELEMENTS // y.size)
    means = np.concatenate(
        [
            rng.choice(y, size=(min(step, resamples - start), y.size)).mean(axis=1)
            for start in range(0, resamples, step)
        ]
    )
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def kmeans(
    points: np.ndarray, k: int, *, seed: int = 0, restarts: int = 4, iterations: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ clustering, best of `restarts`; clusters numbered by their centroid's order.

    Returns:
        (labels of shape (n,), centroids of shape (k, dims)).
    """
    x = np.asarray(points, dtype=np.float64)
    if len(x) < k:
        raise ValueError(f"{len(x)} points cannot form {k} clusters")
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(restarts):
        centroids = _plus_plus(x, k, rng)
        for _ in range(iterations):
            labels = _nearest(x, centroids)
            moved = np.array(
                [
                    x[labels == c].mean(axis=0) if (labels == c).any() else centroids[c]
                    for c in range(k)
                ]
            )
            if np.allclose(moved, centroids):
                break
            centroids = moved
        labels = _nearest(x, centroids)
        inertia = float(((x - centroids[labels]) ** 2).sum())
        if best is None or inertia < best[0] - 1e-12:
            best = (inertia, labels, centroids)
    assert best is not None
    _, labels, centroids = best
    # a canonical numbering, so the same data gives the same cluster names in every run
    order = np.lexsort(centroids.T[::-1])
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[labels], centroids[order]


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    distances = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(distances.argmin(axis=1))


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centroids = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        distances = ((x[:, None, :] - np.array(centroids)[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        total = distances.sum()
        index = rng.choice(len(x), p=distances / total) if total > 0 else rng.integers(len(x))
        centroids.append(x[index])
    return np.array(centroids)
