"""Recall never sees the future: planted memories, truncated backtests, freqtrade's own check."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from freqtrade_mem0 import Memory, fingerprint
from freqtrade_mem0.backtest import lookahead_analysis_main, run_backtest
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode
from freqtrade_mem0.recall import RecallIndex, recall_frame, scope_filter
from tests.freqtrade_helpers import COMPLETE_PAIRS, copy_example_userdir, example_config

pytestmark = pytest.mark.integration

HASHING = {"embedder": "hashing"}

# Records every recall LearningSampleStrategy makes, with the neighbours it was shown.
RECORDING_LEARNER = """
import json
from pathlib import Path

from learning_strategy import LearningSampleStrategy


class RecordingLearner(LearningSampleStrategy):
    def mem0_recall(self, pair, current_time, **kwargs):
        result = super().mem0_recall(pair, current_time, **kwargs)
        row = {"pair": pair, **result.as_dict()}
        with (Path(self.config["user_data_dir"]) / "recalls.jsonl").open("a") as fp:
            fp.write(json.dumps(row) + "\\n")
        return result
"""

# Recall columns as an indicator that gates entries: what lookahead-analysis inspects.
RECALL_FRAME_STRATEGY = """
from sample_strategy import SampleStrategy

from freqtrade_mem0 import Mem0Mixin


class RecallFrameStrategy(Mem0Mixin, SampleStrategy):
    def populate_indicators(self, dataframe, metadata):
        dataframe = super().populate_indicators(dataframe, metadata)
        return self.mem0_recall_frame(dataframe, metadata, k=20)

    def populate_entry_trend(self, dataframe, metadata):
        dataframe = super().populate_entry_trend(dataframe, metadata)
        unfavourable = (dataframe["mem0_n"] >= 10) & (dataframe["mem0_win_rate"] < 0.5)
        dataframe.loc[unfavourable, "enter_long"] = 0
        return dataframe
"""


def plant_live_memories(userdir: Path, strategy: str, count: int = 400) -> list[MemoryRecord]:
    """Live trades of `strategy` spread over the whole data, future ones included.

    Their fingerprints are real (computed from the shipped candles) and their outcomes depend
    on the market, so recall over them has something to find, and would show any peek ahead.
    """
    rng = np.random.default_rng(7)
    records = []
    for pair in COMPLETE_PAIRS:
        frame = pd.read_feather(
            userdir / "data" / "binance" / f"{pair.replace('/', '_')}-5m.feather"
        )
        vectors = fingerprint.fingerprint_frame(frame)
        closes = pd.to_datetime(frame["date"], utc=True) + timedelta(minutes=5)
        rows = rng.choice(np.flatnonzero(np.isfinite(vectors).all(axis=1)), count // 2)
        for i, row in enumerate(rows):
            vector = vectors[row]
            profit = float(np.tanh(vector[5]) + rng.normal(0, 0.5))  # rsi-dependent outcome
            records.append(
                MemoryRecord(
                    key=f"planted|{pair}|{i}",
                    kind=MemoryKind.TRADE,
                    type=MemoryType.LIVE,
                    text=f"{pair} long closed {profit:+.2f}% (planted)",
                    strategy=strategy,
                    pair=pair,
                    side="long",
                    mode=RunMode.LIVE,
                    run_id="live:planted",
                    timestamp=closes[row].to_pydatetime() + timedelta(hours=1),
                    metrics={"profit": profit, "duration": 60.0},
                    market=tuple(float(x) for x in vector),
                    fingerprint_version=fingerprint.FINGERPRINT_VERSION,
                )
            )
    with Memory.open(str(userdir / "mem0"), embedder=HashingEmbedder()) as memory:
        memory.remember(records)
    return records


@pytest.fixture
def userdir(tmp_path: Path) -> Path:
    userdir = copy_example_userdir(tmp_path / "user_data")
    strategies = userdir / "strategies"
    (strategies / "recording_learner.py").write_text(RECORDING_LEARNER)
    (strategies / "recall_frame_strategy.py").write_text(RECALL_FRAME_STRATEGY)
    return userdir


def read_recalls(userdir: Path) -> list[dict[str, Any]]:
    lines = (userdir / "recalls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_a_truncated_backtest_recalls_exactly_what_the_full_one_did(tmp_path: Path) -> None:
    cut = datetime(2018, 1, 21, tzinfo=UTC)
    seen = []
    for name, timerange in [("full", "20180111-20180130"), ("truncated", "20180111-20180121")]:
        userdir = copy_example_userdir(tmp_path / name)
        (userdir / "strategies" / "recording_learner.py").write_text(RECORDING_LEARNER)
        plant_live_memories(userdir, "RecordingLearner")
        run_backtest(
            example_config(userdir, strategy="RecordingLearner", timerange=timerange, mem0=HASHING)
        )
        recalls = read_recalls(userdir)
        for row in recalls:  # nothing recalled ever lies at or after the moment of the recall
            assert all(n["time"] < row["at"] for n in row["neighbours"])
        before = [r for r in recalls if datetime.fromisoformat(r["at"]) < cut]
        for row in before:  # ids hash the run id, which hashes the timerange: compare the rest
            for neighbour in row["neighbours"]:
                neighbour.pop("id")
        seen.append(before)
    full, truncated = seen
    assert len(full) > 50
    assert any(r["sufficient"] for r in full)
    assert full == truncated


def lookahead_verdict(userdir: Path, strategy: str, pairs: tuple[str, ...]) -> dict[str, str]:
    report = userdir / f"lookahead-{strategy}-{len(pairs)}.csv"
    argv = [
        *("--config", str(userdir / "config.json"), "--userdir", str(userdir)),
        *("--strategy", strategy, "--timerange", "20180111-20180130"),
        *("--pairs", *pairs, "--lookahead-analysis-exportfilename", str(report)),
        *("--minimum-trade-amount", "5"),  # one pair of 19 days makes about ten trades
    ]
    assert lookahead_analysis_main(argv) == 0
    with report.open() as fp:
        (row,) = list(csv.DictReader(fp))
    assert int(row["total_signals"]) > 0, (strategy, pairs)
    return row


@pytest.mark.slow
def test_freqtrades_lookahead_analysis_finds_no_bias_in_recall(userdir: Path) -> None:
    plant_live_memories(userdir, "RecallFrameStrategy")
    plant_live_memories(userdir, "LearningSampleStrategy")
    config = json.loads((userdir / "config.json").read_text())
    config["mem0"] = HASHING
    (userdir / "config.json").write_text(json.dumps(config))
    # Recall columns in populate_*: planted memories before and after every candle.
    assert lookahead_verdict(userdir, "RecallFrameStrategy", COMPLETE_PAIRS)["has_bias"] == "False"
    # Recall in callbacks, learning from the run's own trades. lookahead-analysis replays each
    # trade in a backtest of that trade's pair alone, so a strategy that learns across pairs
    # is checked one pair at a time: the full backtest then trades that same single pair.
    for pair in COMPLETE_PAIRS:
        row = lookahead_verdict(userdir, "LearningSampleStrategy", (pair,))
        assert row["has_bias"] == "False", (pair, row)


def test_recall_frame_rows_are_the_same_on_a_truncated_frame(userdir: Path) -> None:
    planted = plant_live_memories(userdir, "S")
    index = RecallIndex(fingerprint.DIM)
    index.add(planted)
    frame = pd.read_feather(userdir / "data" / "binance" / "ETH_BTC-5m.feather")
    vectors = fingerprint.fingerprint_frame(frame)
    closes = (pd.to_datetime(frame["date"], utc=True) + timedelta(minutes=5)).astype("int64") / 1e9
    scope = scope_filter("run", "S", "backtest-run")
    full = recall_frame(index, vectors, closes.to_numpy(), scope=scope)
    cut = 3000
    truncated = recall_frame(
        index, fingerprint.fingerprint_frame(frame.iloc[:cut]), closes.to_numpy()[:cut], scope=scope
    )
    pd.testing.assert_frame_equal(full.iloc[:cut], truncated)
    assert full["mem0_n"].iloc[cut:].max() > full["mem0_n"].iloc[:300].max()
