"""Commands on backtest history: ingest, history, compare (and insights, from its module)."""

from __future__ import annotations

import json
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from freqtrade_mem0.cli.app import EXIT_USAGE, CliState, emit_json, emit_table

pass_state = click.make_pass_decorator(CliState)
# A progress bar is drawn on a terminal, or for this many files even when logging to a file.
PROGRESS_MIN_FILES = 20


def _num(value: Any, spec: str, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(float(value) * scale, spec)


def _with_change(value: Any, change: Any, spec: str, scale: float = 1.0) -> str:
    text = _num(value, spec, scale)
    delta = _num(change, "+" + spec.lstrip("+"), scale)
    return f"{text} ({delta})" if text and delta else text


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--all",
    "every_run",
    is_flag=True,
    help="In a results folder take every result file (default: the latest one).",
)
@click.option(
    "--datadir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="freqtrade's candle folder (e.g. user_data/data/binance): store each trade's "
    "market fingerprint at entry.",
)
@click.option("--data-format", help="Candle file format in --datadir (default: feather).")
@click.option("--notes", help="Notes to keep with every run ingested.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Rewrite memories already stored (e.g. to add fingerprints); default: leave them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def ingest(
    state: CliState,
    paths: tuple[str, ...],
    every_run: bool,
    datadir: Path | None,
    data_format: str | None,
    notes: str | None,
    refresh: bool,
    as_json: bool,
) -> None:
    """Store freqtrade backtest results: a summary per strategy run and a memory per trade.

    PATHS are result files (.json or .zip), results folders (the latest run, as
    .last_result.json names it, or every run with --all) or glob patterns. Ingesting a run
    again stores nothing new. Bad files are reported and skipped (exit code 2 then).

    \b
    Examples:
      freqtrade-mem0 ingest user_data/backtest_results
      freqtrade-mem0 ingest user_data/backtest_results --all --datadir user_data/data/binance
      freqtrade-mem0 ingest 'results/**/backtest-result-*.zip' --notes "after the RSI change"
    """
    from freqtrade_mem0.history.ingest import CandleData, IngestReport, ingest_file
    from freqtrade_mem0.history.results import find_result_files

    files = find_result_files(paths, every_run=every_run)
    memory = state.memory()
    candles = CandleData(datadir, data_format) if datadir is not None else None
    show = sys.stderr.isatty() or len(files) >= PROGRESS_MIN_FILES
    bar = (
        click.progressbar(files, label="ingesting", file=sys.stderr, show_pos=True)
        if show and not as_json
        else nullcontext(files)
    )
    outcomes = []
    with bar as items:
        for path in items:
            outcomes.append(
                ingest_file(memory, path, candles=candles, notes=notes, refresh=refresh)
            )
    report = IngestReport(outcomes)
    if as_json:
        emit_json(report.to_dict())
    else:
        for outcome in report.failed:
            click.secho(f"skipped {outcome.path}: {outcome.error}", err=True, fg="yellow")
        click.echo(f"ingested {report.summary()}")
    if report.failed:
        raise click.exceptions.Exit(EXIT_USAGE)


@click.command()
@click.argument("query", required=False, default="")
@click.option("--strategy", help="Shorthand for AND strategy:NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option(
    "--csv",
    "csv_file",
    type=click.File("w"),
    help="Write the runs as CSV to a file ('-' for stdout).",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write an HTML chart: profit, win rate and drawdown per run, and profit per pair.",
)
@click.option("--per-pair", is_flag=True, help="One row per run and pair.")
@pass_state
def history(
    state: CliState,
    query: str,
    strategy: str | None,
    as_json: bool,
    csv_file: Any,
    plot: Path | None,
    per_pair: bool,
) -> None:
    """Backtest runs over time (a strategy's, or any QUERY's), with the change from the run
    before: when, timerange, trades, profit, win rate, drawdown, sharpe, notes.

    \b
    Examples:
      freqtrade-mem0 history --strategy SampleStrategy
      freqtrade-mem0 history 'strategy:SampleStrategy AND timeframe:5m' --csv runs.csv
      freqtrade-mem0 history --strategy SampleStrategy --plot history.html
    """
    memory = state.memory()
    runs = memory.history(query, strategy=strategy, per="pair" if per_pair else "run")
    if plot is not None:
        from freqtrade_mem0.history.plots import history_figure, write_history_html

        runs_frame = runs if not per_pair else memory.history(query, strategy=strategy)
        pairs_frame = runs if per_pair else memory.history(query, strategy=strategy, per="pair")
        write_history_html(history_figure(runs_frame, pairs_frame), plot)
        click.echo(f"wrote {plot}", err=True)
    if csv_file is not None:
        runs.to_csv(csv_file, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    if as_json:
        click.echo(runs.to_json(orient="records", date_format="iso", indent=2))
    if as_json or csv_file is not None:
        return
    if runs.empty:
        click.echo("no backtest runs match", err=True)
        return
    if per_pair:
        emit_table(
            [
                [
                    f"{r['when']:%Y-%m-%d %H:%M}",
                    r["strategy"],
                    str(r["run_id"])[:8],
                    r["pair"],
                    _num(r["trades"], ".0f"),
                    _num(r["profit"], "+.2f"),
                    _num(r["win_rate"], ".0%"),
                ]
                for r in runs.to_dict("records")
            ],
            ["when (UTC)", "strategy", "run", "pair", "trades", "profit %", "win rate"],
        )
        return
    emit_table(
        [
            [
                f"{r['when']:%Y-%m-%d %H:%M}",
                r["strategy"],
                str(r["run_id"])[:8],
                r["timerange"] or "",
                _with_change(r["trades"], r["trades_change"], ".0f"),
                _with_change(r["profit"], r["profit_change"], "+.2f"),
                _with_change(r["win_rate"], r["win_rate_change"], ".1f", 100.0),
                _with_change(r["drawdown"], r["drawdown_change"], ".2f"),
                _with_change(r["sharpe"], r["sharpe_change"], ".2f"),
                r["changed"],
                r["notes"] or "",
            ]
            for r in runs.to_dict("records")
        ],
        [
            "when (UTC)",
            "strategy",
            "run",
            "timerange",
            "trades",
            "profit %",
            "win rate %",
            "drawdown %",
            "sharpe",
            "changed",
            "notes",
        ],
    )


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--strategy", help="The strategy, where a run id stands for several.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@pass_state
def compare(state: CliState, run_a: str, run_b: str, strategy: str | None, as_json: bool) -> None:
    """Two backtest runs side by side: metric by metric, pair by pair, enter tag by tag.

    A run is its run id or a unique prefix of it, STRATEGY@RUN_ID, or a summary memory's id.
    The change is B minus A; "better" names the better run where the metric has a direction.
    """
    from freqtrade_mem0.history.table import compare_runs

    result = compare_runs(state.memory(), run_a, run_b, strategy=strategy)
    if as_json:
        emit_json(
            {
                "runs": json.loads(result.runs.to_json(date_format="iso")),
                "metrics": json.loads(result.metrics.to_json(orient="index")),
                "pairs": json.loads(result.pairs.to_json(orient="index")),
                "enter_tags": json.loads(result.enter_tags.to_json(orient="index")),
            }
        )
        return
    emit_table(
        [
            [name, *(_text(v)[:16] if "hash" in str(name) else _text(v) for v in row)]
            for name, row in result.runs.iterrows()
        ],
        ["", "A", "B"],
    )
    click.echo("")
    emit_table(
        [
            [
                name,
                _num(row["a"], ".4g"),
                _num(row["b"], ".4g"),
                _num(row["change"], "+.4g"),
                row["better"],
            ]
            for name, row in result.metrics.iterrows()
        ],
        ["metric", "A", "B", "change", "better"],
    )
    for title, frame in (("pair", result.pairs), ("enter tag", result.enter_tags)):
        if frame.empty:
            continue
        click.echo("")
        emit_table(
            [
                [
                    name or "(no tag)",
                    _num(row["trades_a"], ".0f"),
                    _num(row["trades_b"], ".0f"),
                    _num(row["profit_a"], "+.2f"),
                    _num(row["profit_b"], "+.2f"),
                    _num(row["profit_change"], "+.2f"),
                    _num(row["win_rate_a"], ".0%"),
                    _num(row["win_rate_b"], ".0%"),
                ]
                for name, row in frame.iterrows()
            ],
            [title, "trades A", "trades B", "profit % A", "profit % B", "change", "win A", "win B"],
        )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def register(group: click.Group) -> None:
    """Add this module's commands to the group."""
    from freqtrade_mem0.cli.insights import insights

    for command in (ingest, history, compare, insights):
        group.add_command(command)
