"""`make demo`: a strategy that learns from its own trades, against its twin that does not.

On real binance candles shipped in `user_data_examples/` (ten pairs, 2018-01-11..2018-01-30) it
backtests `SampleStrategy` and `LearningSampleStrategy` in one run of freqtrade's own engine,
offline, with the default embedded store. It prints both side by side, what recall decided,
what the memory now holds, two searches, and a recall report for one pair.

    python -m freqtrade_mem0.demo [--userdir DIR] [--pair ETH/BTC]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqtrade_mem0.backtest import BacktestRun, run_backtest
from freqtrade_mem0.backtest_memory import remember_backtest
from freqtrade_mem0.config import load_settings
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import parse
from freqtrade_mem0.recall.report import format_recall, recall_at

EXAMPLE_USERDIR = Path(__file__).resolve().parent.parent / "user_data_examples"
TIMERANGE = "20180111-20180130"
BASELINE, LEARNER = "SampleStrategy", "LearningSampleStrategy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--userdir", type=Path, default=EXAMPLE_USERDIR)
    parser.add_argument("--pair", default="ETH/BTC", help="pair of the closing recall report")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    userdir: Path = args.userdir.resolve()
    config = json.loads((userdir / "config.json").read_text(encoding="utf-8"))
    config.update(
        user_data_dir=str(userdir),
        strategy_path=str(userdir / "strategies"),
        strategy_list=[BASELINE, LEARNER],
        timerange=TIMERANGE,
        export="trades",
    )
    settings = load_settings(config.get("mem0"))
    location = settings.location(userdir)
    pairs = config["exchange"]["pair_whitelist"]
    step(f"Backtesting {BASELINE} and {LEARNER} on {len(pairs)} binance pairs, {TIMERANGE}, 5m")
    step("(freqtrade's own engine, markets from a static file, no network)")
    log_file = userdir / "logs" / "demo.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    step(f"freqtrade's log and result tables go to {log_file}")
    started = time.monotonic()
    with (
        log_file.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        try:
            run = run_backtest(config)
        finally:
            for handler in logging.getLogger().handlers:
                handler.flush()
    for noisy in ("freqtrade", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    step(f"done in {time.monotonic() - started:.1f}s; memory store: {location}")
    summaries = remember_backtest(run, settings=settings)
    step(f"stored {len(summaries.written) + len(summaries.skipped)} backtest summaries")

    print()
    print(side_by_side(run))
    learner = run.instances.get(LEARNER)
    decisions: Counter[str] = getattr(learner, "mem0_decisions", None) or Counter()
    print(f"\nWhat recall decided at {LEARNER}'s {sum(decisions.values())} entry signals:")
    for reason, count in sorted(decisions.items()):
        print(f"  {count:4d}  {reason}")
    print(
        "  (one 19-day sample of ten pairs: it shows the mechanics, not that learning pays in\n"
        "   general; judge a rule on much more data, out of sample)"
    )

    with Memory.open(location, settings=settings) as memory:
        show_memory(memory, run)
        at = datetime(2018, 1, 30, tzinfo=UTC)
        result = recall_at(
            memory,
            strategy=LEARNER,
            pair=args.pair,
            at=at,
            query="side:long",
            datadir=userdir / "data" / "binance",
            timeframe=config["timeframe"],
            run_id=run.run_ids.get(LEARNER),
            scope="run",
            settings=settings.recall,
        )
    print()
    title = f"Recall for {LEARNER} on {args.pair} (longs, this run's trades), end of the data:"
    print(format_recall(result, title=title))
    return 0


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def side_by_side(run: BacktestRun) -> str:
    """Trades, profit, win rate and drawdown of both strategies, in two columns."""
    rows: list[tuple[str, Any, Any]] = []

    def row(label: str, key: str, fmt: str, scale: float = 1.0) -> None:
        values = [run.stats(name).get(key) for name in (BASELINE, LEARNER)]
        shown = ["n/a" if v is None else format(float(v) * scale, fmt) for v in values]
        rows.append((label, shown[0], shown[1]))

    row("trades", "total_trades", ".0f")
    row("profit %", "profit_total", "+.2f", 100.0)
    row("profit BTC", "profit_total_abs", "+.6f")
    row("win rate %", "winrate", ".1f", 100.0)
    row("max drawdown %", "max_drawdown_account", ".2f", 100.0)
    row("profit factor", "profit_factor", ".2f")
    row("expectancy ratio", "expectancy_ratio", "+.3f")
    width = max(len(BASELINE), len(LEARNER)) + 2
    lines = [f"{'':18}{BASELINE:>{width}}{LEARNER:>{width}}"]
    lines += [f"{label:18}{a:>{width}}{b:>{width}}" for label, a, b in rows]
    return "\n".join(lines)


def show_memory(memory: Memory, run: BacktestRun) -> None:
    """What the memory holds after the run, and two searches over it."""
    run_id = run.run_ids.get(LEARNER)
    query = f'strategy:{LEARNER} AND kind:trade AND run_id:"{run_id}"'
    print(f"\nThe memory holds {memory.count()} memories; {memory.count(query)} are this run's")
    print(f"trades of {LEARNER}. Three of them:")
    for hit in memory.search(query, limit=3):
        print(f"  - {hit.record.text}")
    losers = f"{query} AND profit:<0 AND pair:(ETH/BTC OR LTC/BTC)"
    print(f"\nQuery language: {losers}")
    for hit in memory.search(losers, limit=3):
        print(f"  - {hit.record.text}")
    text = "a losing long entered in a falling market"
    print(f'\nSemantic search: "{text}" (with {query})')
    for hit in memory.search(text, where=parse(query).where, limit=3):
        print(f"  {hit.score:.2f}  {hit.record.text}")


if __name__ == "__main__":
    sys.exit(main())
