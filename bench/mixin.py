"""Mixin overhead: wall time of a real offline backtest of SampleStrategy and of the same strategy
with Mem0Mixin (MemorySampleStrategy) on the shipped candles (ten pairs, 19 days of 5m, about 95
trades), in alternating repetitions: medians compared, and the median of each repetition's
mixin/SampleStrategy pair (the target's figure). The mixin's time includes fingerprinting
every candle, a memory per trade, and the delivery of all of them with the real MiniLM embedder
into the embedded store (created, and the model loaded, once before timing; every repetition is
a new run whose memories are new to the store). Also LearningSampleStrategy, which recalls at
every entry signal and stake, and the whole `freqtrade-mem0 backtesting` command with and
without the mixin, each in a new process as a user runs it (the model's load included).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, median, progress
from freqtrade_mem0.backtest import run_backtest
from freqtrade_mem0.embedding import MiniLMEmbedder

BUDGET_SECONDS = 300
EXAMPLE_USERDIR = Path(__file__).resolve().parent.parent / "user_data_examples"
TIMERANGE = "20180111-20180130"


def backtest_seconds(userdir: Path, strategy: str, repeat: int) -> float:
    """One backtest's wall time. Each repetition is a new run (its own run id, through an
    otherwise unused config key), so its memories are new to the store, as after any change."""
    config: dict[str, Any] = json.loads((userdir / "config.json").read_text())
    config.update(
        strategy=strategy,
        timerange=TIMERANGE,
        user_data_dir=str(userdir),
        export="none",
        bot_name=f"bench-{repeat}",
    )
    # Every run starts from the same collector state: a full collection of this process's
    # heap (freqtrade, torch, the model) takes about 0.3 s, and whichever run happened to
    # trigger one would pay for the garbage of the runs before it.
    gc.collect()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # freqtrade's result tables
        run_backtest(config)
    return time.perf_counter() - started


def command_seconds(userdir: Path, strategy: str) -> float:
    """The whole `freqtrade-mem0 backtesting` command in a new process, as a user runs it:
    imports, the backtest, the model's load and the backtest summary memory included."""
    command = [
        *(sys.executable, "-m", "freqtrade_mem0", "backtesting"),
        *("--userdir", str(userdir), "--config", str(userdir / "config.json")),
        *("--strategy", strategy, "--timerange", TIMERANGE, "--export", "none"),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def run(quick: bool = False) -> list[Figure]:
    logging.disable(logging.WARNING)  # freqtrade logs at INFO; the runner shows our progress
    MiniLMEmbedder().embed([f"load and warm the model before timing {i}" for i in range(64)])
    repeats = 2 if quick else 6
    strategies = ("SampleStrategy", "MemorySampleStrategy", "LearningSampleStrategy")
    times: dict[str, list[float]] = {name: [] for name in strategies}
    with tempfile.TemporaryDirectory(prefix="bench-mixin-") as tmp:
        userdir = Path(
            shutil.copytree(
                EXAMPLE_USERDIR,
                Path(tmp) / "user_data",
                ignore=shutil.ignore_patterns("mem0", "mem0-outbox", "logs", "backtest_results"),
            )
        )
        for name in strategies:  # warm caches (data files, imports) and create the store
            backtest_seconds(userdir, name, -1)
        for repeat in range(repeats):
            # The mixin's run sits between the two others, and their order turns each time:
            # this machine's speed drifts by tens of percent within a minute.
            order = strategies if repeat % 2 == 0 else strategies[::-1]
            for name in (order[0], "MemorySampleStrategy", order[2]):
                times[name].append(backtest_seconds(userdir, name, repeat))
            progress(
                f"repeat {repeat + 1}/{repeats}: "
                + ", ".join(f"{name} {times[name][-1]:.2f}s" for name in strategies)
            )
        commands: dict[str, list[float]] = {"SampleStrategy": [], "MemorySampleStrategy": []}
        for repeat in range(1 if quick else 3):
            order = list(commands) if repeat % 2 == 0 else list(commands)[::-1]
            for name in order:
                commands[name].append(command_seconds(userdir, name))
            progress(
                f"command {repeat + 1}: "
                + ", ".join(f"{name} {commands[name][-1]:.2f}s" for name in commands)
            )
    baseline = median(times["SampleStrategy"])
    command_base = median(commands["SampleStrategy"])
    note = f"median of {repeats} alternating runs; full backtest incl. delivery to the store"
    paired = median(
        m / b for m, b in zip(times["MemorySampleStrategy"], times["SampleStrategy"], strict=True)
    )
    return [
        Figure("backtest wall time, SampleStrategy", "s", baseline, note=note),
        Figure(
            "backtest wall time, with Mem0Mixin",
            "s",
            median(times["MemorySampleStrategy"]),
            peer="the same strategy without the mixin",
            peer_value=baseline,
            note=note,
        ),
        Figure(
            "backtest wall time with Mem0Mixin / without, median of paired repetitions",
            "ratio",
            paired,
            target=1.10,
            note=f"each repetition's mixin run over the SampleStrategy run beside it ({repeats} "
            "pairs): steadier than a ratio of medians when the machine's speed drifts",
        ),
        Figure(
            "freqtrade-mem0 backtesting command, SampleStrategy",
            "s",
            command_base,
            note="a new process each time: imports, backtest, the model's load and the summary "
            "memory (which any backtest command stores)",
        ),
        Figure(
            "freqtrade-mem0 backtesting command, with Mem0Mixin",
            "s",
            median(commands["MemorySampleStrategy"]),
            peer="the same command for the strategy without the mixin",
            peer_value=command_base,
            note="a new process each time: its trades are embedded at the end, after the model "
            "loaded",
        ),
        Figure(
            "backtest wall time, learning strategy (recall at every entry)",
            "s",
            median(times["LearningSampleStrategy"]),
            peer="SampleStrategy without the mixin",
            peer_value=baseline,
            note=note + "; trades differ (recall blocks some entries)",
        ),
    ]


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure)
