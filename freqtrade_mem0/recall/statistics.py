"""Small, exact statistics for recall: weights, effective sample size, intervals, shrinkage."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def decay_weights(age_seconds: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Exponential time decay: a memory `half_life_days` old weighs half as much as a new one."""
    if half_life_days is None:
        return np.ones_like(age_seconds, dtype=np.float64)
    return np.exp2(-np.maximum(age_seconds, 0.0) / (half_life_days * 86_400.0))


def kish_n_eff(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: n for equal weights, less otherwise."""
    total = float(weights.sum())
    squares = float(np.dot(weights, weights))
    return total * total / squares if squares > 0 else 0.0


def wilson_interval(rate: float, n_eff: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion observed on an effective sample of `n_eff`."""
    if n_eff <= 0:
        return 0.0, 1.0
    denominator = 1.0 + z * z / n_eff
    centre = (rate + z * z / (2.0 * n_eff)) / denominator
    half = z * math.sqrt(rate * (1.0 - rate) / n_eff + z * z / (4.0 * n_eff * n_eff)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def shrunk_rate(rate: float, n_eff: float, prior: float, strength: float) -> float:
    """Beta-binomial posterior mean: the observed rate pulled toward `prior` by `strength`
    pseudo-observations (the fewer the observations, the stronger the pull)."""
    if n_eff + strength <= 0:
        return prior
    return (rate * n_eff + prior * strength) / (n_eff + strength)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which half the weight lies on each side."""
    if values.size == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
    return float(values[order][min(index, values.size - 1)])


def profit_factor(profits: np.ndarray, weights: np.ndarray) -> float:
    """Weighted gross gains over weighted gross losses (inf with no losses, nan with neither)."""
    gains = float(np.dot(weights, np.clip(profits, 0.0, None)))
    losses = float(np.dot(weights, np.clip(-profits, 0.0, None)))
    if losses == 0.0:
        return math.inf if gains > 0 else math.nan
    return gains / losses
