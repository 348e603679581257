"""`freqtrade-mem0 insights`: conditions where a strategy did clearly better or worse."""

from __future__ import annotations

import json
from typing import Any

import click
import pandas as pd

from freqtrade_mem0.cli.app import CliState, emit_json, emit_table

pass_state = click.make_pass_decorator(CliState)


@click.command()
@click.argument("query", required=False, default="")
@click.option("--strategy", help="Shorthand for AND strategy:NAME.")
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="False discovery rate: report conditions with Benjamini-Hochberg q below it.",
)
@click.option(
    "--min-trades",
    type=click.IntRange(2),
    default=10,
    show_default=True,
    help="Fewest trades in a condition (and outside it) to test it.",
)
@click.option(
    "--outcome",
    type=click.Choice(["profit", "win"]),
    default="profit",
    show_default=True,
    help="What is compared: mean profit per trade, or the share of winning trades.",
)
@click.option(
    "--regions",
    type=click.IntRange(0),
    default=4,
    show_default=True,
    help="Market regions (k-means of entry fingerprints); 0 for none.",
)
@click.option("--resamples", type=click.IntRange(99), default=9_999, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Show every condition tested.")
@click.option("--no-store", is_flag=True, help="Do not store the findings.")
@click.option("--json", "as_json", is_flag=True, help="Print every condition tested as JSON.")
@pass_state
def insights(
    state: CliState,
    query: str,
    strategy: str | None,
    alpha: float,
    min_trades: int,
    outcome: str,
    regions: int,
    resamples: int,
    seed: int,
    show_all: bool,
    no_store: bool,
    as_json: bool,
) -> None:
    """Market conditions where a strategy did clearly better or worse than its own average.

    Tests the trades QUERY matches, per strategy: by pair, enter tag, side, each fingerprint
    feature's thirds and market regions, with permutation tests and Benjamini-Hochberg
    correction. Findings are stored as analysis memories (type:analysis, tag insight).

    \b
    Examples:
      freqtrade-mem0 insights --strategy SampleStrategy
      freqtrade-mem0 insights 'strategy:SampleStrategy AND mode:backtest' --all
    """
    from freqtrade_mem0.history.insights import InsightSettings, find_insights

    try:
        settings = InsightSettings(
            alpha=alpha,
            min_trades=min_trades,
            outcome=outcome,  # type: ignore[arg-type]
            regions=regions,
            resamples=resamples,
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    reports = find_insights(
        state.memory(), query, strategy=strategy, settings=settings, store=not no_store
    )
    if as_json:
        emit_json(
            [
                {
                    "strategy": r.strategy,
                    "trades": r.trades,
                    "fingerprinted": r.fingerprinted,
                    "profit": r.profit,
                    "win_rate": r.win_rate,
                    "cells": json.loads(r.cells.to_json(orient="records")),
                    "findings": [f.id for f in r.findings],
                }
                for r in reports
            ]
        )
        return
    if not reports:
        click.echo("no trade memories match", err=True)
        return
    for index, report in enumerate(reports):
        if index:
            click.echo("")
        _print_insights(report, alpha, show_all)
    stored = sum(len(r.findings) for r in reports)
    if stored and not no_store:
        click.echo(
            f"\nstored {stored} finding(s) as analysis memories: freqtrade-mem0 search "
            "'type:analysis AND tags:insight'"
        )


def _print_insights(report: Any, alpha: float, show_all: bool) -> None:
    span = ""
    if report.first is not None:
        span = f", closed {report.first:%Y-%m-%d} .. {report.last:%Y-%m-%d}"
    click.echo(
        f"{report.strategy}: {report.trades} trades ({report.fingerprinted} with market "
        f"fingerprints){span}; mean profit {report.profit:+.2f}% per trade, "
        f"win rate {report.win_rate:.0%}"
    )
    cells: pd.DataFrame = report.cells
    shown = cells if show_all else cells[cells["finding"]]
    found = int(cells["finding"].sum())
    if cells.empty:
        click.echo("  too few trades to test any condition")
        return
    if not found:
        best = cells.iloc[0]
        click.echo(
            f"  {len(cells)} conditions tested; none differs clearly (q < {alpha:g}); "
            f"the closest: {best['cell']} with q = {best['q_value']:.2g}"
        )
    else:
        click.echo(f"  {len(cells)} conditions tested; {found} differ clearly (q < {alpha:g}):")
    if shown.empty:
        return
    emit_table(
        [
            [
                row["direction"] if row["finding"] else "",
                row["cell"],
                f"{row['trades']}",
                f"{row['win_rate']:.0%} [{row['win_rate_low']:.0%}, {row['win_rate_high']:.0%}]",
                f"{row['profit']:+.2f} [{row['profit_low']:+.2f}, {row['profit_high']:+.2f}]",
                f"{row['rest_profit']:+.2f}",
                f"{row['p_value']:.2g}",
                f"{row['q_value']:.2g}",
            ]
            for row in shown.to_dict("records")
        ],
        ["", "condition", "trades", "win rate [95%]", "profit % [95%]", "others %", "p", "q"],
    )
