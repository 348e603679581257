"""The static pictures of the README and the docs, drawn from real runs (`make figures`).

    python docs/figures.py            # writes docs/img/learning-vs-twin.png

It backtests `SampleStrategy` and `LearningSampleStrategy` exactly as `make demo` does (freqtrade's
own engine, offline, on the binance candles shipped in `user_data_examples/`), in a copy of that
folder so the example store is untouched, and draws both strategies' cumulative profit by trade
close time, with the entries recall blocked marked. Matplotlib (the `dev` extra) draws it.
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


def main() -> int:
    stats, blocked = demo_run()
    print(f"wrote {draw(stats, OUTPUT, blocked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
