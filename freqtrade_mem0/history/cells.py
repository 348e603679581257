"""A strategy's distinct trades as arrays, and the cells (entry conditions) insights test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from freqtrade_mem0.fingerprint import DIM, FEATURES, FINGERPRINT_VERSION
from freqtrade_mem0.history.statistics import kmeans
from freqtrade_mem0.models import MemoryKind, MemoryRecord

# How each fingerprint feature reads to a person (see freqtrade_mem0.fingerprint).
FEATURE_LABELS: dict[str, str] = {
    "ret_1": "the last candle's move",
    "ret_6": "the 6-candle move",
    "ret_24": "the 24-candle move",
    "vol_regime": "volatility (24 vs 192 candles)",
    "atr_regime": "candle range (ATR 14 vs 192)",
    "rsi": "RSI",
    "trend": "trend (average of 12 vs 48 candles)",
    "volume_z": "volume",
    "dist_ma": "distance from the 192-candle average",
    "range_pos": "position in the 96-candle range",
}
_THIRDS = ("lowest", "middle", "highest")
NO_TAG = "(no tag)"


@dataclass(frozen=True)
class TradeSet:
    """One strategy's distinct whole trades, as arrays in one order."""

    strategy: str
    ids: list[str]
    profit: np.ndarray  # % per trade
    pairs: np.ndarray
    sides: np.ndarray
    tags: np.ndarray
    markets: np.ndarray  # (n, DIM), NaN rows where a trade has no current fingerprint
    closes: list[datetime]
    timeframe: str | None

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def wins(self) -> np.ndarray:
        return np.asarray(self.profit > 0.0)

    @property
    def has_market(self) -> np.ndarray:
        return np.asarray(np.isfinite(self.markets).all(axis=1))

    @property
    def first(self) -> datetime | None:
        return min(self.closes) if self.closes else None

    @property
    def last(self) -> datetime | None:
        return max(self.closes) if self.closes else None


def trade_set(records: Sequence[MemoryRecord]) -> TradeSet:
    """The distinct whole trades among records (one strategy's).

    Partial exits are left out (their trade's final close counts once), and a trade stored by
    several runs (the same pair, side and open time) counts once, as its latest run saw it.
    """
    latest: dict[tuple[Any, ...], MemoryRecord] = {}
    for record in records:
        if record.kind is not MemoryKind.TRADE or "partial_exit" in record.data:
            continue
        if "profit" not in record.metrics:
            continue
        key = (record.pair, record.side, record.data.get("open_date") or record.id)
        kept = latest.get(key)
        if kept is None or (record.timestamp, record.created_at) > (
            kept.timestamp,
            kept.created_at,
        ):
            latest[key] = record
    # in natural-key order, so the same trades give the same arrays (and p-values) anywhere
    chosen = [
        latest[key] for key in sorted(latest, key=lambda k: (latest[k].timestamp, *map(str, k)))
    ]
    markets = np.full((len(chosen), DIM), np.nan)
    for row, record in enumerate(chosen):
        if record.market is not None and record.fingerprint_version == FINGERPRINT_VERSION:
            markets[row] = record.market
    timeframes = {r.timeframe for r in chosen}
    return TradeSet(
        strategy=chosen[0].strategy if chosen else (records[0].strategy if records else ""),
        ids=[r.id for r in chosen],
        profit=np.array([r.metrics["profit"] for r in chosen], dtype=np.float64),
        pairs=np.array([r.pair or "" for r in chosen], dtype=object),
        sides=np.array([r.side or "" for r in chosen], dtype=object),
        tags=np.array([r.enter_tag or NO_TAG for r in chosen], dtype=object),
        markets=markets,
        closes=[r.timestamp for r in chosen],
        timeframe=timeframes.pop() if len(timeframes) == 1 else None,
    )


@dataclass(frozen=True)
class Cell:
    """A group of trades sharing an entry condition.

    Attributes:
        family: `pair`, `enter_tag`, `side`, `feature` or `region`.
        name: a stable id of the condition, e.g. `pair=ETH/BTC`, `rsi<=-0.42`.
        description: the condition for a person.
        mask: membership over the trade set.
        population: `all`, or `fingerprinted` (compared only with trades that have fingerprints).
        definition: what defines the cell (feature and bounds, or a region's centroid).
        centroid: the mean entry fingerprint of the cell (fingerprint cells only).
    """

    family: str
    name: str
    description: str
    mask: np.ndarray = field(repr=False)
    population: Literal["all", "fingerprinted"] = "all"
    definition: dict[str, Any] = field(default_factory=dict)
    centroid: tuple[float, ...] | None = None
    pair: str | None = None
    side: str | None = None
    enter_tag: str | None = None


def build_cells(
    trades: TradeSet, features: Sequence[str], regions: int, min_trades: int, seed: int
) -> list[Cell]:
    """Every cell with at least `min_trades` trades in it and outside it."""
    everyone = np.ones(trades.size, dtype=bool)
    fingerprinted = trades.has_market

    def testable(mask: np.ndarray, members: np.ndarray) -> bool:
        inside = int(mask.sum())
        return inside >= min_trades and int(members.sum()) - inside >= min_trades

    cells: list[Cell] = []
    for pair in sorted(set(trades.pairs) - {""}):
        mask = trades.pairs == pair
        cells.append(Cell("pair", f"pair={pair}", f"trades on {pair}", mask, pair=pair))
    tags = sorted(set(trades.tags))
    if len(tags) > 1:
        for tag in tags:
            what = "entries without a tag" if tag == NO_TAG else f"entries tagged {tag!r}"
            real = None if tag == NO_TAG else tag
            cells.append(
                Cell("enter_tag", f"enter_tag={tag}", what, trades.tags == tag, enter_tag=real)
            )
    sides = sorted(set(trades.sides) - {""})
    if len(sides) > 1:
        for side in sides:
            cells.append(
                Cell("side", f"side={side}", f"{side} trades", trades.sides == side, side=side)
            )
    cells = [c for c in cells if testable(c.mask, everyone)]
    if int(fingerprinted.sum()) >= 3 * min_trades:
        cells += [c for c in _feature_cells(trades, features) if testable(c.mask, fingerprinted)]
    if regions >= 2 and int(fingerprinted.sum()) >= regions * min_trades:
        cells += [
            c for c in _region_cells(trades, regions, seed) if testable(c.mask, fingerprinted)
        ]
    return cells


def _feature_cells(trades: TradeSet, features: Sequence[str]) -> list[Cell]:
    """Each feature's lowest, middle and highest third among the strategy's entries."""
    have = trades.has_market
    cells = []
    for feature in features:
        values = trades.markets[:, FEATURES.index(feature)]
        # bounds rounded before use: the cell is exactly what its name says
        low, high = (round(float(v), 2) for v in np.quantile(values[have], [1 / 3, 2 / 3]))
        label = FEATURE_LABELS[feature]
        bins = (
            (
                values <= low,
                f"{feature}<={low:+.2f}",
                f"≤ {low:+.2f}{_hint(feature, None, low)}",
                None,
                low,
            ),
            (
                (values > low) & (values <= high),
                f"{low:+.2f}<{feature}<={high:+.2f}",
                f"{low:+.2f} to {high:+.2f}{_hint(feature, low, high)}",
                low,
                high,
            ),
            (
                values > high,
                f"{feature}>{high:+.2f}",
                f"> {high:+.2f}{_hint(feature, high, None)}",
                high,
                None,
            ),
        )
        for third, (condition, name, bounds, lower, upper) in zip(_THIRDS, bins, strict=True):
            if third == "middle" and low == high:
                continue
            mask = have & condition
            cells.append(
                Cell(
                    "feature",
                    name,
                    f"entries with {label} in its {third} third ({feature} {bounds})",
                    mask,
                    population="fingerprinted",
                    definition={"feature": feature, "lower": lower, "upper": upper},
                    centroid=_centroid(trades.markets[mask]),
                )
            )
    return cells


def _hint(feature: str, lower: float | None, upper: float | None) -> str:
    """The bounds in the indicator's own units, where there are such (RSI)."""
    if feature != "rsi":
        return ""
    parts = [f"{50 + 25 * v:.0f}" for v in (lower, upper) if v is not None]
    if lower is None:
        return f", RSI ≤ {parts[0]}"
    if upper is None:
        return f", RSI > {parts[0]}"
    return f", RSI {parts[0]} to {parts[1]}"


def _region_cells(trades: TradeSet, k: int, seed: int) -> list[Cell]:
    """k-means regions of the entry fingerprints, each named by its most distinctive features."""
    have = trades.has_market
    labels, centroids = kmeans(trades.markets[have], k, seed=seed)
    cells = []
    for index, centre in enumerate(centroids):
        mask = np.zeros(trades.size, dtype=bool)
        mask[np.flatnonzero(have)[labels == index]] = True
        top = np.argsort(-np.abs(centre), kind="stable")[:3]
        traits = ", ".join(f"{FEATURES[i]} {centre[i]:+.1f}" for i in top)
        cells.append(
            Cell(
                "region",
                f"region{k}:{index + 1}({traits})",
                f"entries in market region {index + 1} of {k} ({traits})",
                mask,
                population="fingerprinted",
                definition={"centroid": [round(float(v), 4) for v in centre]},
                centroid=tuple(float(v) for v in centre),
            )
        )
    return cells


def _centroid(rows: np.ndarray) -> tuple[float, ...] | None:
    return tuple(float(v) for v in rows.mean(axis=0)) if len(rows) else None
