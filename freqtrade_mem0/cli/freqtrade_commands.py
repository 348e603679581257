"""freqtrade's own commands run offline (`backtesting`, `hyperopt`, `lookahead-analysis`,
`recursive-analysis`), and `recall` from the shell."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from freqtrade_mem0.backtest import (
    BacktestRun,
    backtesting_main,
    hyperopt_main,
    lookahead_analysis_main,
    recursive_analysis_main,
)
from freqtrade_mem0.cli.app import CliState, emit_json
from freqtrade_mem0.errors import ConfigError

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(context_settings=_PASS_THROUGH, add_help_option=False)
@click.option("--no-summary", is_flag=True, help="Do not store the backtest summary memories.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def backtesting(no_summary: bool, args: tuple[str, ...]) -> None:
    """`freqtrade backtesting ARGS`, offline (markets from a static file, cache off).

    Strategies with Mem0Mixin remember their trades; at the end one summary memory per strategy
    is stored in the store the config's "mem0" section names. `--help` shows freqtrade's options.
    """

    def remember(run: BacktestRun) -> None:
        if no_summary:
            return
        from freqtrade_mem0.backtest_memory import remember_backtest

        result = remember_backtest(run)
        click.echo(f"freqtrade-mem0: stored {len(result.written)} backtest summary memories")

    sys.exit(backtesting_main(list(args), on_complete=remember))


@click.command("lookahead-analysis", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lookahead_analysis(args: tuple[str, ...]) -> None:
    """`freqtrade lookahead-analysis ARGS`, offline. Memories are read, not written."""
    sys.exit(lookahead_analysis_main(list(args)))


@click.command("recursive-analysis", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def recursive_analysis(args: tuple[str, ...]) -> None:
    """`freqtrade recursive-analysis ARGS`, offline. Memories are read, not written."""
    sys.exit(recursive_analysis_main(list(args)))


@click.command(context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hyperopt(args: tuple[str, ...]) -> None:
    """`freqtrade hyperopt ARGS`, offline. Memories are read (recall works), not written."""
    sys.exit(hyperopt_main(list(args)))


@click.command()
@click.option("--strategy", required=True, help="Whose trades to recall.")
@click.option("--pair", required=True, help="The pair whose market conditions to match.")
@click.option(
    "--at",
    "at_text",
    help="Point in time (ISO-8601 with a timezone, e.g. 2018-01-30T00:00Z); default now.",
)
@click.option("--query", help="A filter in the query language, e.g. 'side:long'.")
@click.option(
    "--scope",
    type=click.Choice(["strategy", "run", "all"]),
    default="strategy",
    show_default=True,
    help="Which memories count ('run' needs --run-id).",
)
@click.option("--run-id", help="With --scope run: the backtest run whose trades count.")
@click.option(
    "--datadir",
    type=click.Path(path_type=Path, file_okay=False),
    help="freqtrade candle files for the market now (default: the pair's latest trade's entry).",
)
@click.option("--timeframe", help="Candle timeframe in --datadir (default: the trades').")
@click.option("-k", type=int, help="Neighbours (default: the recall.k setting).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write an HTML chart: the neighbours' profit by distance, the win rate.",
)
@click.pass_obj
def recall(
    state: CliState,
    strategy: str,
    pair: str,
    at_text: str | None,
    query: str | None,
    scope: str,
    run_id: str | None,
    datadir: Path | None,
    timeframe: str | None,
    k: int | None,
    as_json: bool,
    plot: Path | None,
) -> None:
    """How STRATEGY's past trades did in market conditions like PAIR's at --at."""
    from freqtrade_mem0.recall.report import format_recall, recall_at

    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"--at {at_text!r} is not an ISO-8601 time") from exc
    settings = state.settings().recall
    if k is not None:
        settings = settings.model_copy(update={"k": k})
    result = recall_at(
        state.memory(),
        strategy=strategy,
        pair=pair,
        at=at,
        query=query,
        scope=scope,  # type: ignore[arg-type]
        run_id=run_id,
        datadir=datadir,
        timeframe=timeframe,
        settings=settings,
    )
    title = f"Recall for {strategy} on {pair}"
    if plot is not None:
        from freqtrade_mem0.recall.plots import write_recall_html

        write_recall_html(result, plot, title=title)
        click.echo(f"wrote {plot}", err=True)
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(format_recall(result, title=f"{title}:"))


def register(group: click.Group) -> None:
    """Add these commands to the `freqtrade-mem0` group."""
    for command in (backtesting, hyperopt, lookahead_analysis, recursive_analysis, recall):
        group.add_command(command)
