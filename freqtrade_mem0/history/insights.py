"""Where a strategy did clearly better or worse than its own average, found in its trades.

For each strategy, the trades are split into cells, each a market condition known at entry: a
pair, an enter tag, a side, one fingerprint feature's lowest, middle or highest third among the
strategy's entries, or a market region (k-means of the entry fingerprints). Each cell's mean
outcome is tested against the mean of the other trades with a permutation test, and the p-values
of all cells tested are adjusted together (Benjamini-Hochberg). Only cells with q < alpha are
findings; each becomes an `analysis` memory the strategy can recall.

Cells are built from entry conditions only, never from the outcome (an exit reason would be),
so the tests stay honest. The same trade stored by several runs counts once. The tests take
trades as exchangeable; trades open at the same time on correlated pairs are not quite, so treat
a finding with a q near alpha as a lead to check on new data, not as a law.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from freqtrade_mem0.fingerprint import FEATURES, FINGERPRINT_VERSION
from freqtrade_mem0.history.cells import Cell, TradeSet, build_cells, trade_set
from freqtrade_mem0.history.statistics import (
    benjamini_hochberg,
    bootstrap_mean_interval,
    permutation_pvalues,
)
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType
from freqtrade_mem0.query import Node, and_, eq, parse
from freqtrade_mem0.recall.statistics import wilson_interval

Outcome = Literal["profit", "win"]
DEFAULT_FEATURES: tuple[str, ...] = (
    "trend",
    "vol_regime",
    "rsi",
    "volume_z",
    "ret_24",
    "range_pos",
)
METHOD = (
    "two-sided permutation test of the cell's mean {outcome} against the other trades' "
    "({resamples} permutations), Benjamini-Hochberg q over all {cells} cells tested"
)
CELL_COLUMNS = (
    "family",
    "cell",
    "description",
    "trades",
    "win_rate",
    "win_rate_low",
    "win_rate_high",
    "profit",
    "profit_low",
    "profit_high",
    "rest_profit",
    "rest_win_rate",
    "p_value",
    "q_value",
    "direction",
    "finding",
)


@dataclass(frozen=True)
class InsightSettings:
    """How insights are mined.

    Attributes:
        alpha: the false discovery rate: cells with q < alpha are findings.
        min_trades: the fewest trades a cell, and the rest outside it, must have to be tested.
        outcome: `profit` (mean profit % per trade) or `win` (share of winning trades).
        features: fingerprint features binned into thirds.
        regions: k for k-means market regions (0: none).
        resamples: permutations per test.
        seed: seed of permutations, bootstrap and k-means (same data, same findings).
    """

    alpha: float = 0.1
    min_trades: int = 10
    outcome: Outcome = "profit"
    features: tuple[str, ...] = DEFAULT_FEATURES
    regions: int = 4
    resamples: int = 9_999
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown fingerprint features {unknown}; choose from {FEATURES}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be between 0 and 1")
        if self.min_trades < 2:
            raise ValueError("min_trades must be at least 2")


@dataclass(frozen=True)
class StrategyInsights:
    """What mining one strategy's trades found.

    Attributes:
        strategy: the strategy.
        trades: distinct trades analysed.
        fingerprinted: how many of them carry an entry fingerprint.
        first: the earliest trade close analysed.
        last: the latest (the findings' timestamp: they are known from then on).
        profit: the strategy's mean profit % per trade.
        win_rate: its share of winning trades.
        cells: every cell tested, `CELL_COLUMNS`, findings first.
        findings: the findings as analysis memories.
    """

    strategy: str
    trades: int
    fingerprinted: int
    first: datetime | None
    last: datetime | None
    profit: float
    win_rate: float
    cells: pd.DataFrame = field(repr=False)
    findings: list[MemoryRecord] = field(default_factory=list)


def find_insights(
    memory: Memory,
    query: str | Node | None = None,
    *,
    strategy: str | None = None,
    settings: InsightSettings | None = None,
    store: bool = True,
) -> list[StrategyInsights]:
    """Mine the trade memories a query matches, strategy by strategy, and store the findings.

    Args:
        memory: where the trades are, and where findings go.
        query: a filter on the trades, e.g. `strategy:MyStrategy AND timeframe:5m`.
        strategy: shorthand for `AND strategy:<name>`.
        settings: how to mine (defaults: `InsightSettings()`).
        store: store the findings (idempotent: the same trades give the same keys).
    """
    settings = settings or InsightSettings()
    where = parse(query or "").where if isinstance(query, str) or query is None else query
    node = and_(eq("kind", "trade"), where, eq("strategy", strategy) if strategy else None)
    by_strategy: dict[str, list[MemoryRecord]] = {}
    for record in memory.iterate(node):
        by_strategy.setdefault(record.strategy, []).append(record)
    query_text = query if isinstance(query, str) else None
    reports = [
        analyse(records, settings, query=query_text) for _, records in sorted(by_strategy.items())
    ]
    if store:
        memory.remember([r for report in reports for r in report.findings], skip_existing=True)
    return reports


def analyse(
    records: Sequence[MemoryRecord], settings: InsightSettings, *, query: str | None = None
) -> StrategyInsights:
    """Test every cell of one strategy's trades (see the module docstring)."""
    trades = trade_set(records)
    if trades.size == 0:
        return StrategyInsights(
            records[0].strategy if records else "",
            0,
            0,
            None,
            None,
            0.0,
            0.0,
            pd.DataFrame(columns=list(CELL_COLUMNS)),
        )
    outcome = trades.profit if settings.outcome == "profit" else trades.wins.astype(float)
    cells = build_cells(
        trades, settings.features, settings.regions, settings.min_trades, settings.seed
    )
    pvalues = np.ones(len(cells))
    for population in ("all", "fingerprinted"):
        index = [i for i, c in enumerate(cells) if c.population == population]
        if not index:
            continue
        members = trades.has_market if population == "fingerprinted" else np.ones(trades.size, bool)
        masks = np.array([cells[i].mask[members] for i in index])
        pvalues[index] = permutation_pvalues(
            outcome[members], masks, resamples=settings.resamples, seed=settings.seed
        )
    qvalues = benjamini_hochberg(pvalues)
    rows = [
        _cell_row(cell, trades, outcome, p, q, settings)
        for cell, p, q in zip(cells, pvalues, qvalues, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=list(CELL_COLUMNS))
    frame = frame.sort_values(["finding", "q_value", "p_value"], ascending=[False, True, True])
    report = StrategyInsights(
        strategy=trades.strategy,
        trades=trades.size,
        fingerprinted=int(trades.has_market.sum()),
        first=trades.first,
        last=trades.last,
        profit=float(trades.profit.mean()),
        win_rate=float(trades.wins.mean()),
        cells=frame.reset_index(drop=True),
    )
    findings = [
        _finding(cell, row, report, trades, settings, len(cells), query)
        for cell, row in zip(cells, rows, strict=True)
        if row["finding"]
    ]
    return StrategyInsights(**{**report.__dict__, "findings": findings})


def _cell_row(
    cell: Cell,
    trades: TradeSet,
    outcome: np.ndarray,
    p: float,
    q: float,
    settings: InsightSettings,
) -> dict[str, Any]:
    members = (
        trades.has_market if cell.population == "fingerprinted" else np.ones(trades.size, bool)
    )
    inside, outside = cell.mask, members & ~cell.mask
    n = int(inside.sum())
    win_rate = float(trades.wins[inside].mean())
    low, high = wilson_interval(win_rate, n)
    profit_low, profit_high = bootstrap_mean_interval(trades.profit[inside], seed=settings.seed)
    better = float(outcome[inside].mean()) > float(outcome[outside].mean())
    return {
        "family": cell.family,
        "cell": cell.name,
        "description": cell.description,
        "trades": n,
        "win_rate": win_rate,
        "win_rate_low": low,
        "win_rate_high": high,
        "profit": float(trades.profit[inside].mean()),
        "profit_low": profit_low,
        "profit_high": profit_high,
        "rest_profit": float(trades.profit[outside].mean()),
        "rest_win_rate": float(trades.wins[outside].mean()),
        "p_value": float(p),
        "q_value": float(q),
        "direction": "better" if better else "worse",
        "finding": bool(q < settings.alpha),
    }


def _finding(
    cell: Cell,
    row: dict[str, Any],
    report: StrategyInsights,
    trades: TradeSet,
    settings: InsightSettings,
    tested: int,
    query: str | None,
) -> MemoryRecord:
    """A finding as an analysis memory; its key fixes strategy, cell, outcome and the trades."""
    direction = row["direction"]
    text = (
        f"{report.strategy} did clearly {direction} than its average on {cell.description}: "
        f"mean profit {row['profit']:+.2f}% per trade "
        f"[{row['profit_low']:+.2f}, {row['profit_high']:+.2f}] over {row['trades']} trades, "
        f"against {row['rest_profit']:+.2f}% on its other trades ({report.profit:+.2f}% overall); "
        f"win rate {row['win_rate']:.0%} [{row['win_rate_low']:.0%}, {row['win_rate_high']:.0%}] "
        f"against {report.win_rate:.0%}. q = {row['q_value']:.3g} over {tested} conditions tested."
    )
    digest = hashlib.sha256("\n".join(sorted(trades.ids)).encode()).hexdigest()[:16]
    metrics = {
        "trades": float(row["trades"]),
        "profit": row["profit"],
        "profit_low": row["profit_low"],
        "profit_high": row["profit_high"],
        "rest_profit": row["rest_profit"],
        "baseline_profit": report.profit,
        "win_rate": row["win_rate"],
        "win_rate_low": row["win_rate_low"],
        "win_rate_high": row["win_rate_high"],
        "baseline_win_rate": report.win_rate,
        "p_value": row["p_value"],
        "q_value": row["q_value"],
        "population": float(trades.size),
    }
    assert report.last is not None
    assert report.first is not None
    return MemoryRecord(
        key=f"insight|{report.strategy}|{settings.outcome}|{cell.name}|{digest}",
        kind=MemoryKind.ANALYSIS,
        type=MemoryType.ANALYSIS,
        text=text,
        strategy=report.strategy,
        # known once the last trade it rests on had closed: invisible to backtests before that
        timestamp=report.last,
        timeframe=trades.timeframe,
        pair=cell.pair,
        side=cell.side,
        enter_tag=cell.enter_tag,
        tags=("insight", cell.family, direction),
        metrics={k: float(v) for k, v in metrics.items() if np.isfinite(v)},
        data={
            "cell": cell.name,
            "family": cell.family,
            "description": cell.description,
            **cell.definition,
            "outcome": settings.outcome,
            "alpha": settings.alpha,
            "cells_tested": tested,
            "method": METHOD.format(
                outcome=settings.outcome, resamples=settings.resamples, cells=tested
            ),
            "window": {
                "first": report.first.isoformat(),
                "last": report.last.isoformat(),
                "trades": trades.size,
                "digest": digest,
            },
            **({"query": query} if query else {}),
        },
        market=cell.centroid,
        fingerprint_version=FINGERPRINT_VERSION if cell.centroid is not None else None,
    )
