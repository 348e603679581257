"""Helpers for the backtest history tests: the shipped result files, runs of freqtrade's real
engine, and synthetic trade memories with known structure."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.backtest import BacktestRun, run_backtest
from freqtrade_mem0.models import MemoryRecord, RunMode
from freqtrade_mem0.records import MarketContext, TradeFacts, trade_record
from tests.freqtrade_helpers import TEST_DATA, copy_example_userdir, example_config

RESULTS = TEST_DATA / "backtest_results"
OLD = RESULTS / "freqtrade-2024.10"
OLD_SINGLE = OLD / "backtest-result.json"
OLD_MULTI = OLD / "backtest-result_multistrat.json"
NEW = RESULTS / "freqtrade-2026.9"
NEW_ZIP = NEW / "backtest-result-2026-11-23_23-45-31.zip"
SHIPPED = (OLD_SINGLE, OLD_MULTI, NEW_ZIP)
CANDLES = TEST_DATA.parent.parent / "user_data_examples" / "data" / "binance"
# Trades and strategies in the shipped files (freqtrade's own 2024.10 test data, and one run
# of SampleStrategy on the example data with freqtrade 2026.9).
SHIPPED_RUNS = {
    ("StrategyTestV3", "430d0271075ef327edbb23088f4db4ebe51a3dbf"): 179,
    ("StrategyTestV2", "430d0271075ef327edbb23088f4db4ebe51a3dbf"): 179,
    ("TestStrategy", "110d0271075ef327edbb23085102b4ebe51a3d55"): 179,
    ("SampleStrategy", "ffa70724303e99a4ec59591ea7e7ad2e264f6998"): 100,
}

# Three versions of SampleStrategy's settings, run in this order: as shipped, a tighter stop
# and smaller ROI, then a later start of the timerange (short timeranges: each run takes ~3 s).
SHORT = "20180118-20180130"
VARIANTS: tuple[dict[str, Any], ...] = (
    {"timerange": SHORT},
    {"timerange": SHORT, "stoploss": -0.03, "minimal_roi": {"0": 0.015}},
    {"timerange": "20180121-20180130", "stoploss": -0.03, "minimal_roi": {"0": 0.015}},
)


@dataclass(frozen=True)
class EngineHistory:
    """A userdir whose results folder holds the runs of `VARIANTS`, oldest first."""

    userdir: Path
    runs: list[BacktestRun]

    @property
    def results(self) -> Path:
        return self.userdir / "backtest_results"


_ENGINE: dict[Path, EngineHistory] = {}


def engine_history(base: Path) -> EngineHistory:
    """Run `VARIANTS` once per test session (about 4 s each) and share the result."""
    if base not in _ENGINE:
        userdir = copy_example_userdir(base / "engine" / "user_data")
        runs = []
        for variant in VARIANTS:
            if runs:
                time.sleep(1.0)  # result files are named by the second they were written
            runs.append(run_backtest(example_config(userdir, export="trades", **variant)))
        _ENGINE[base] = EngineHistory(userdir, runs)
    return _ENGINE[base]


START = datetime(2024, 3, 1, tzinfo=UTC)


def synthetic_trades(
    strategy: str,
    count: int,
    *,
    seed: int,
    pairs: Sequence[str] = ("AAA/BTC", "BBB/BTC", "CCC/BTC", "DDD/BTC"),
    effects: dict[str, float] | None = None,
    rsi_effect: float = 0.0,
    run_id: str = "run-1",
) -> list[MemoryRecord]:
    """Trade memories with random profits (mean 0.1 %, sd 1 %), random pairs and fingerprints.

    Args:
        effects: extra mean profit (percentage points) by pair.
        rsi_effect: extra mean profit for entries whose rsi feature is below -0.5.
    """
    rng = np.random.default_rng(seed)
    effects = effects or {}
    records = []
    for i in range(count):
        pair = pairs[int(rng.integers(len(pairs)))]
        vector = np.clip(rng.normal(size=fingerprint.DIM), -4, 4)
        profit = 0.1 + rng.normal() + effects.get(pair, 0.0)
        if vector[fingerprint.FEATURES.index("rsi")] < -0.5:
            profit += rsi_effect
        opened = START + timedelta(minutes=30 * i)
        facts = TradeFacts(
            pair=pair,
            is_short=False,
            open_date=opened,
            close_date=opened + timedelta(minutes=20),
            open_rate=1.0,
            close_rate=1.0 + profit / 100,
            profit_ratio=profit / 100,
            profit_abs=profit / 1000,
            stake_amount=0.1,
            exit_reason="roi" if profit > 0 else "stop_loss",
        )
        entry = MarketContext(tuple(float(v) for v in vector), "test market", opened)
        records.append(
            trade_record(
                facts,
                strategy=strategy,
                mode=RunMode.BACKTEST,
                run_id=run_id,
                timeframe="5m",
                entry=entry,
            )
        )
    return records
