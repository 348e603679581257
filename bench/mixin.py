"""Mixin overhead: wall time of a real offline backtest of SampleStrategy and of the same strategy
with Mem0Mixin (MemorySampleStrategy) on the shipped candles (ten pairs, 19 days of 5m, about 95
trades), in alternating repetitions: medians compared, and the median of each repetition's
mixin/SampleStrategy pair. Two mixin runs per repetition: the strategy's first run, its
memories deleted before so that every text is embedded (the target's figure), and the same
backtest run again, which reads the vectors of the texts already stored instead of embedding
them. The mixin's time includes fingerprinting every candle, a memory per trade, and the
delivery of all of them with the real MiniLM embedder into the embedded store (created, and the
model loaded, once before timing).

Also LearningSampleStrategy (a first run too), which recalls at every entry signal and stake,
and the whole `freqtrade-mem0 backtesting` command with and without the mixin, each in a new
process as a user runs it (imports and the model's load included), first run and run again.
And the two costs the ratio is made of: the store's open and its end (the run's memories written,
flush, close), paid once per run, and the embedding of each new trade's text.
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
from freqtrade_mem0.config import load_settings
from freqtrade_mem0.embedding import MiniLMEmbedder, on_one_core
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import and_, eq
from freqtrade_mem0.runtime import AHEAD_CHUNK, shared_memory

BUDGET_SECONDS = 420  # six repetitions of four backtests and nine commands, slow phases included
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


def forget(userdir: Path, strategy: str) -> None:
    """Delete a strategy's memories, so that its next run is its first (untimed)."""
    settings = load_settings(json.loads((userdir / "config.json").read_text()).get("mem0"))
    with shared_memory(settings.location(userdir), settings) as memory:
        memory.store.delete_where(eq("strategy", strategy))


def fixed_costs(userdir: Path, strategy: str, repeats: int) -> tuple[float, float, float]:
    """The costs a mixin run is made of, medians of `repeats`: the open of the store (the
    bench's own, a few hundred memories), its end (a run's trades written, flush and close),
    and the embedding of one trade text on one core, which a first run pays for each new
    trade beside the simulation."""
    settings = load_settings(json.loads((userdir / "config.json").read_text()).get("mem0"))
    location = settings.location(userdir)
    where = and_(eq("kind", "trade"), eq("strategy", strategy))
    with shared_memory(location, settings) as memory:
        texts = sorted({record.text for record in memory.iterate(where, with_vectors=False)})
        # a run's trades as its flush writes them (the same points again: nothing changes)
        points, _ = memory.store.scroll(where, limit=max(1, len(texts)), with_vectors=True)
    opens, ends = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        memory = Memory.open(location, settings=settings)
        opened = time.perf_counter()
        memory.store.upsert(points)
        memory.close()
        opens.append(opened - started)
        ends.append(time.perf_counter() - opened)
    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    with on_one_core():
        for chunk in range(0, len(texts), AHEAD_CHUNK):
            embedder.embed(texts[chunk : chunk + AHEAD_CHUNK])
    per_text = (time.perf_counter() - started) / max(1, len(texts))
    return median(opens), median(ends), per_text


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
    base, first, again, learning = (
        "SampleStrategy",
        "MemorySampleStrategy",
        "MemorySampleStrategy again",
        "LearningSampleStrategy",
    )
    times: dict[str, list[float]] = {name: [] for name in (base, first, again, learning)}
    with tempfile.TemporaryDirectory(prefix="bench-mixin-") as tmp:
        userdir = Path(
            shutil.copytree(
                EXAMPLE_USERDIR,
                Path(tmp) / "user_data",
                ignore=shutil.ignore_patterns("mem0", "mem0-outbox", "logs", "backtest_results"),
            )
        )
        for name in (base, first, learning):  # warm caches (data files, imports), make the store
            backtest_seconds(userdir, name, -1)
        for repeat in range(repeats):
            # The mixin's runs sit between the two others, and their order turns each time:
            # this machine's speed drifts by tens of percent within a minute.
            ends = (base, learning) if repeat % 2 == 0 else (learning, base)
            for name in (ends[0], first, again, ends[1]):
                strategy = name.removesuffix(" again")
                if name in (first, learning):
                    forget(userdir, strategy)
                times[name].append(backtest_seconds(userdir, strategy, repeat))
            progress(
                f"repeat {repeat + 1}/{repeats}: "
                + ", ".join(f"{name} {times[name][-1]:.2f}s" for name in times)
            )
        store_open, store_end, embed_per_text = fixed_costs(userdir, first, repeats)
        commands: dict[str, list[float]] = {base: [], first: [], again: []}
        for repeat in range(1 if quick else 3):
            order = list(commands) if repeat % 2 == 0 else [first, again, base]
            for name in order:
                strategy = name.removesuffix(" again")
                if name == first:
                    forget(userdir, strategy)
                commands[name].append(command_seconds(userdir, strategy))
            progress(
                f"command {repeat + 1}: "
                + ", ".join(f"{name} {commands[name][-1]:.2f}s" for name in commands)
            )
    baseline = median(times[base])
    command_base = median(commands[base])
    note = f"median of {repeats} alternating runs; full backtest incl. delivery to the store"

    def paired(name: str) -> float:
        return median(m / b for m, b in zip(times[name], times[base], strict=True))

    return [
        Figure("backtest wall time, SampleStrategy", "s", baseline, note=note),
        Figure(
            "backtest wall time, with Mem0Mixin, first run",
            "s",
            median(times[first]),
            peer="the same strategy without the mixin",
            peer_value=baseline,
            note=note + "; the strategy's memories deleted before, so every text is embedded",
        ),
        Figure(
            "backtest wall time with Mem0Mixin / without, first run, median of paired repetitions",
            "ratio",
            paired(first),
            target=1.10,
            note=f"each repetition's first mixin run over the SampleStrategy run beside it "
            f"({repeats} pairs): steadier than a ratio of medians when the machine's speed drifts",
        ),
        Figure(
            "backtest wall time with Mem0Mixin / without, run again, median of paired repetitions",
            "ratio",
            paired(again),
            note="the same backtest right after its first run: the texts' vectors are read "
            "from the store, none is embedded",
        ),
        Figure(
            "embedded store open, the bench's store",
            "s",
            store_open,
            note=f"median of {repeats}; a run opens its store once, on the delivery thread at "
            "bot_start, and the open holds the interpreter's lock (Qdrant Edge)",
        ),
        Figure(
            "embedded store: a run's trades written, flush and close",
            "s",
            store_end,
            note=f"median of {repeats}; once at the end of each run, on the caller's thread",
        ),
        Figure(
            "store open, write and close over the SampleStrategy backtest",
            "ratio",
            (store_open + store_end) / baseline,
            note="the part of the mixin's ratio above 1 that is paid once per run",
        ),
        Figure(
            "embedding one of the backtest's trade texts on one core",
            "ms",
            1000 * embed_per_text,
            note=f"chunks of {AHEAD_CHUNK}, as the delivery thread embeds them beside the "
            "simulation in a first run (the other core is the simulation's)",
        ),
        Figure(
            "freqtrade-mem0 backtesting command, SampleStrategy",
            "s",
            command_base,
            note="a new process each time: imports, backtest, the model's load and the summary "
            "memory (which any backtest command stores)",
        ),
        Figure(
            "freqtrade-mem0 backtesting command, with Mem0Mixin, first run",
            "s",
            median(commands[first]),
            peer="the same command for the strategy without the mixin",
            peer_value=command_base,
            note="a new process each time: its trades are embedded at the end, after the model "
            "loaded",
        ),
        Figure(
            "freqtrade-mem0 backtesting command, with Mem0Mixin, run again",
            "s",
            median(commands[again]),
            peer="the same command for the strategy without the mixin",
            peer_value=command_base,
            note="the texts' vectors read from the store: the model is loaded only for texts "
            "that are new",
        ),
        Figure(
            "backtest wall time, learning strategy (recall at every entry), first run",
            "s",
            median(times[learning]),
            peer="SampleStrategy without the mixin",
            peer_value=baseline,
            note=note + "; trades differ (recall blocks some entries)",
        ),
    ]


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure)
