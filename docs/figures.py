"""The static pictures of the README and the docs, drawn from real runs (`make figures`).

    python docs/figures.py            # writes both pictures
    python docs/figures.py history    # only docs/img/history.png (a few seconds)
    python docs/figures.py learning   # only docs/img/learning-vs-twin.png (a backtest)

`learning-vs-twin.png` backtests `SampleStrategy` and `LearningSampleStrategy` exactly as
`make demo` does (freqtrade's own engine, offline, on the binance candles shipped in
`user_data_examples/`), in a copy of that folder so the example store is untouched, and draws both
strategies' cumulative profit by trade close time, with the entries recall blocked marked.

`history.png` ingests the freqtrade result files shipped in `tests/data/backtest_results/` with
the package's own history code, into a temporary embedded store with the hashing embedder, and
draws what `freqtrade-mem0 history --plot` draws interactively: total profit per run in the order
the runs were made, and the profit of each pair in each run.

Matplotlib (the `dev` extra) draws them; plotly cannot write PNG without kaleido.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "img" / "learning-vs-twin.png"
HISTORY_OUTPUT = REPO / "docs" / "img" / "history.png"
RESULTS = REPO / "tests" / "data" / "backtest_results"
PICTURES = ("history", "learning")
TIMERANGE = "20180111-20180130"
STRATEGIES = ("SampleStrategy", "LearningSampleStrategy")
COLOURS = {"SampleStrategy": "#7f7f7f", "LearningSampleStrategy": "#1f77b4"}


def cumulative(trades: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[float]]:
    """Close times and the running profit (% of the starting balance) of freqtrade's trades."""
    import pandas as pd

    ordered = sorted(trades, key=lambda t: t["close_date"])
    times = [pd.Timestamp(t["close_date"]) for t in ordered]
    running, total = [], 0.0
    for trade in ordered:
        total += float(trade["profit_abs"])
        running.append(total)
    return times, running


def draw(stats: Mapping[str, Mapping[str, Any]], path: Path, blocked: int | None = None) -> Path:
    """Cumulative profit of each strategy's trades (freqtrade's per-strategy stats) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.6), dpi=100)
    for name, strategy in stats.items():
        times, running = cumulative(strategy["trades"])
        start = float(strategy.get("starting_balance") or 1.0)
        label = (
            f"{name}: {len(times)} trades, {float(strategy['profit_total']) * 100:+.2f}%, "
            f"max drawdown {float(strategy['max_drawdown_account']) * 100:.2f}%"
        )
        axes.step(
            times,
            [100.0 * value / start for value in running],
            where="post",
            label=label,
            color=COLOURS.get(name),
            linewidth=2,
        )
    axes.axhline(0.0, color="#999999", linewidth=0.8)
    axes.set_ylabel("cumulative profit, % of balance")
    axes.set_title(
        "One strategy with and without recall of its own past trades in similar markets"
        + (f" ({blocked} entries blocked)" if blocked else ""),
        fontsize=11,
        loc="left",
    )
    axes.legend(loc="upper left", frameon=False, fontsize=9)
    axes.grid(alpha=0.3)
    figure.text(
        0.01,
        0.01,
        "freqtrade backtest, 10 binance BTC pairs, 5m, 2018-01-11..30 (make demo). "
        "One 19-day sample: it shows the mechanics, not that learning pays in general.",
        fontsize=8,
        color="#555555",
    )
    figure.autofmt_xdate()
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def demo_run() -> tuple[dict[str, Any], int]:
    """Both strategies' stats and the learner's blocked entries, from a fresh demo backtest."""
    import contextlib
    import io
    import logging

    from freqtrade_mem0.backtest import run_backtest

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mem0-figures-") as scratch:
        userdir = Path(
            shutil.copytree(
                REPO / "user_data_examples",
                Path(scratch) / "user_data",
                ignore=shutil.ignore_patterns("mem0", "mem0-outbox", "logs", "backtest_results"),
            )
        )
        config = json.loads((userdir / "config.json").read_text(encoding="utf-8"))
        config.update(
            user_data_dir=str(userdir),
            strategy_path=str(userdir / "strategies"),
            strategy_list=list(STRATEGIES),
            timerange=TIMERANGE,
            export="none",
        )
        with contextlib.redirect_stdout(io.StringIO()):
            run = run_backtest(config)
        decisions = getattr(run.instances.get(STRATEGIES[1]), "mem0_decisions", None) or {}
        blocked = sum(count for reason, count in decisions.items() if "block" in reason)
        return {name: run.stats(name) for name in STRATEGIES}, blocked


def shipped_history(results: Path = RESULTS) -> tuple[Any, Any]:
    """The runs and the per-pair rows of every result file under `results`, as `history` reads
    them: ingested into a temporary embedded store with the hashing embedder."""
    from freqtrade_mem0 import HashingEmbedder, Memory
    from freqtrade_mem0.history import history_frame, ingest

    folders = sorted(path for path in results.iterdir() if path.is_dir())
    with (
        tempfile.TemporaryDirectory(prefix="mem0-figures-") as scratch,
        Memory.open(str(Path(scratch) / "store"), embedder=HashingEmbedder()) as memory,
    ):
        ingest(memory, folders, every_run=True)
        return history_frame(memory), history_frame(memory, per="pair")


def pair_matrix(runs: Any, pairs: Any) -> Any:
    """Profit (%) of each pair (rows, best on average first) in each run (columns, labelled
    strategy, day and run id, in the order the runs were made)."""
    labels = {
        (row["strategy"], row["run_id"]): (
            f"{row['strategy']}\n{row['when']:%Y-%m-%d}\n{str(row['run_id'])[:8]}"
        )
        for row in runs.to_dict("records")
    }
    keys = zip(pairs["strategy"], pairs["run_id"], strict=True)
    table = pairs.assign(run=[labels[key] for key in keys])
    matrix = table.pivot_table(index="pair", columns="run", values="profit", aggfunc="first")
    matrix = matrix.reindex(columns=list(labels.values()))
    return matrix.loc[matrix.mean(axis=1).sort_values(ascending=False).index]


def draw_history(runs: Any, pairs: Any, path: Path) -> Path:
    """Total profit per run, and a pair × run heatmap of profit, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import SymLogNorm

    matrix = pair_matrix(runs, pairs)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(10, 5), dpi=100, gridspec_kw={"width_ratios": [2, 3]}
    )
    positions = np.arange(len(runs))
    profit = runs["profit"].astype(float).to_numpy()
    left.bar(positions, profit, color=["#2ca02c" if p > 0 else "#d62728" for p in profit])
    for x, row in zip(positions, runs.to_dict("records"), strict=True):
        left.annotate(
            f"{float(row['profit']):+.1f}%\n{int(row['trades'])} trades\n"
            f"win {float(row['win_rate']):.0%}\ndd {float(row['drawdown']):.1f}%",
            (x, max(float(row["profit"]), 0.0)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7.5,
        )
    left.axhline(0.0, color="#999999", linewidth=0.8)
    left.set_xticks(positions, list(matrix.columns), fontsize=7)
    left.set_ylabel("total profit, % of starting balance")
    left.set_ylim(top=max(profit.max(), 0.0) * 1.35 + 1.0)
    left.set_title("Profit per run, oldest first", fontsize=10, loc="left")
    left.grid(axis="y", alpha=0.3)

    values = matrix.to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    # symmetric-log colours: a 0.5 % pair and a 100 % pair both keep a readable shade
    norm = SymLogNorm(linthresh=1.0, vmin=-bound, vmax=bound)
    image = right.imshow(values, cmap="RdYlGn", norm=norm, aspect="auto")
    for (y, x), value in np.ndenumerate(values):
        if np.isfinite(value):
            right.text(x, y, f"{value:+.2f}", ha="center", va="center", fontsize=7)
    right.set_xticks(range(len(matrix.columns)), list(matrix.columns), fontsize=7)
    right.set_yticks(range(len(matrix.index)), list(matrix.index), fontsize=8)
    right.set_title("Profit per pair and run (%)", fontsize=10, loc="left")
    ticks = [t for t in (-100, -10, -1, 0, 1, 10, 100) if abs(t) <= bound]
    bar = figure.colorbar(image, ax=right, fraction=0.04, pad=0.02, ticks=ticks)
    bar.ax.set_yticklabels([f"{t:+d}" if t else "0" for t in ticks], fontsize=7)
    figure.suptitle(
        "freqtrade-mem0 history of the result files in tests/data", fontsize=11, x=0.01, ha="left"
    )
    figure.text(
        0.01,
        0.01,
        "The runs: freqtrade 2024.10's own test results (a two-strategy run, a single run) and "
        "freqtrade 2026.9 backtesting SampleStrategy on the example candles (make figures).",
        fontsize=8,
        color="#555555",
    )
    figure.tight_layout(rect=(0, 0.04, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def main(names: Sequence[str] = ()) -> int:
    """Draw the named pictures (`history`, `learning`), all of them by default."""
    names = names or PICTURES
    if unknown := sorted(set(names) - set(PICTURES)):
        raise SystemExit(f"no picture named {', '.join(unknown)}; choose from {PICTURES}")
    if "history" in names:
        print(f"wrote {draw_history(*shipped_history(), HISTORY_OUTPUT)}")
    if "learning" in names:
        stats, blocked = demo_run()
        print(f"wrote {draw(stats, OUTPUT, blocked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
