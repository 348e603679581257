"""Commands on single memories and searches: add, search, get, delete, stats, export, import,
optimize."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from freqtrade_mem0.cli.app import CliState, emit_json, emit_table
from freqtrade_mem0.errors import InvalidMemoryError
from freqtrade_mem0.memory import Hit
from freqtrade_mem0.models import MemoryRecord, MemoryType, parse_create

pass_state = click.make_pass_decorator(CliState)


def _summary_row(record: MemoryRecord, score: float | None = None) -> list[Any]:
    profit = record.metrics.get("profit")
    text = record.text.replace("\n", " ")
    return [
        record.id[:8],
        record.timestamp.strftime("%Y-%m-%d %H:%M"),
        record.kind.value,
        record.strategy,
        record.pair or "",
        "" if profit is None else f"{profit:+.2f}%",
        "" if score is None else f"{score:.3f}",
        text if len(text) <= 60 else text[:57] + "...",
    ]


HEADERS = ["id", "time (UTC)", "kind", "strategy", "pair", "profit", "score", "text"]


def _parse_metric(values: tuple[str, ...]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for item in values:
        name, sep, number = item.partition("=")
        try:
            if not sep:
                raise ValueError
            metrics[name.strip()] = float(number)
        except ValueError as exc:
            raise click.BadParameter(f"{item!r}: use NAME=NUMBER, e.g. profit=1.5") from exc
    return metrics


@click.command()
@click.argument("text", required=False)
@click.option("--strategy", help="Strategy the memory belongs to.")
@click.option(
    "--type",
    "type_",
    type=click.Choice([t.value for t in MemoryType]),
    default="analysis",
    show_default=True,
)
@click.option("--pair", help="Pair, e.g. ADA/BTC.")
@click.option("--timestamp", help="When the information became known (ISO-8601; default now).")
@click.option("-m", "--metric", multiple=True, help="A metric, NAME=NUMBER (repeatable).")
@click.option("--tag", multiple=True, help="A tag (repeatable).")
@click.option(
    "--file",
    "file_",
    type=click.File("r"),
    help="Wire-format memories: one JSON object, or JSON lines ('-' for stdin).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored memories as JSON.")
@pass_state
def add(
    state: CliState,
    text: str | None,
    strategy: str | None,
    type_: str,
    pair: str | None,
    timestamp: str | None,
    metric: tuple[str, ...],
    tag: tuple[str, ...],
    file_: Any,
    as_json: bool,
) -> None:
    """Store a memory: TEXT with options, or wire-format JSON from --file."""
    if file_ is not None:
        content = file_.read()
        memory = state.memory()
        try:
            single = json.loads(content)
        except json.JSONDecodeError:
            single = None  # not one JSON document: JSON lines
        if isinstance(single, dict):
            records = [memory.add(single)]
        else:
            result = memory.import_jsonl(content.splitlines())
            records = memory.get_many(result.written)
    else:
        if not text or not strategy:
            raise click.UsageError("give TEXT and --strategy, or --file")
        raw = {
            "messages": [{"role": "system", "content": text}],
            "metadata": {
                "type": type_,
                "strategy": strategy,
                "timestamp": timestamp or datetime.now(UTC).isoformat(),
                "metrics": _parse_metric(metric),
                "tags": list(tag),
                **({"pair": pair} if pair else {}),
            },
        }
        records = [state.memory().add(parse_create(raw))]
    if as_json:
        emit_json([r.to_public().model_dump(mode="json") for r in records])
    else:
        for record in records:
            click.echo(f"stored {record.id}")


@click.command()
@click.argument("query", required=False, default="")
@click.option("-n", "--limit", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--type", "type_", type=click.Choice([t.value for t in MemoryType]))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@pass_state
def search(
    state: CliState, query: str, limit: int, offset: int, type_: str | None, as_json: bool
) -> None:
    """Search memories with the query language.

    \b
    Examples:
      freqtrade-mem0 search 'strategy:MyStrategy AND profit:>10.0'
      freqtrade-mem0 search 'timestamp:[2024-01-01 TO 2024-06-27] pair:ADA/BTC'
      freqtrade-mem0 search 'strategy:MyStrategy losing longs after a volume spike'
    """
    hits: list[Hit] = state.memory().search(query, limit=limit, offset=offset, type=type_)
    if as_json:
        emit_json([h.record.to_public(score=h.score).model_dump(mode="json") for h in hits])
        return
    if not hits:
        click.echo("no memories match", err=True)
        return
    emit_table([_summary_row(h.record, h.score) for h in hits], HEADERS)


@click.command()
@click.argument("memory_id")
@click.option("--json", "as_json", is_flag=True, help="Print the memory as JSON.")
@pass_state
def get(state: CliState, memory_id: str, as_json: bool) -> None:
    """Show one memory by id."""
    record = state.memory().get(memory_id)
    if as_json:
        emit_json(record.to_public().model_dump(mode="json"))
        return
    public = record.to_public()
    click.echo(f"id:        {record.id}")
    for name, value in public.metadata.items():
        if name != "market":
            click.echo(f"{name + ':':<10} {value}")
    click.echo("")
    click.echo(record.text)


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--query", help="Delete every memory this query matches.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting by query.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def delete(
    state: CliState, ids: tuple[str, ...], query: str | None, yes: bool, as_json: bool
) -> None:
    """Delete memories by id, or by --query."""
    if bool(ids) == bool(query):
        raise click.UsageError("give memory ids or --query (not both)")
    memory = state.memory()
    if query:
        matched = memory.count(query)
        if not yes and matched:
            click.confirm(f"delete {matched} memories matching {query!r}?", abort=True)
        removed = memory.delete_where(query)
    else:
        gone = memory.delete(list(ids))
        missing = sorted(set(ids) - set(gone))
        if missing and not as_json:
            click.echo(f"not found: {', '.join(missing)}", err=True)
        removed = len(gone)
    if as_json:
        emit_json({"deleted": removed})
    else:
        click.echo(f"deleted {removed}")
    if ids and removed == 0:
        raise click.exceptions.Exit(3)


@click.command()
@click.argument("query", required=False, default="")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def stats(state: CliState, query: str, as_json: bool) -> None:
    """Counts by type, kind, strategy, pair and mode, the time span, and the store's status."""
    memory = state.memory()
    summary = memory.stats(query)
    status = memory.status()
    if as_json:
        emit_json({**summary, "store": status.__dict__})
        return
    click.echo(f"store:    {status.backend} at {status.location}")
    click.echo(
        f"points:   {status.points} in {status.segments} segment(s), healthy={status.healthy}"
    )
    click.echo(f"memories: {summary['total']} from {summary['first']} to {summary['last']}")
    for key in ("type", "kind", "strategy", "pair", "mode"):
        counts = summary[f"by_{key}"]
        if counts:
            shown = ", ".join(f"{k} {v}" for k, v in list(counts.items())[:10])
            click.echo(f"by {key + ':':<9} {shown}")


@click.command("export")
@click.argument("query", required=False, default="")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@click.option("--plain", is_flag=True, help="Do not encrypt, even with encryption keys set.")
@pass_state
def export_(state: CliState, query: str, output: Any, plain: bool) -> None:
    """Export memories (all, or a query's) as JSON lines in the wire format; encrypted with
    the active key when encryption keys are configured (`import` reads it back)."""
    ring = None if plain else state.settings().key_ring()
    if ring is None:
        count = state.memory().export_jsonl(output, query)
    else:
        from freqtrade_mem0.security.files import encrypted_text

        output.flush()
        with encrypted_text(output.buffer, ring) as text:
            count = state.memory().export_jsonl(text, query)
    click.echo(
        f"exported {count}" + (f", encrypted with key {ring.active.id}" if ring else ""), err=True
    )


@click.command("import")
@click.argument("source", type=click.File("r"), default="-")
@pass_state
def import_(state: CliState, source: Any) -> None:
    """Import JSON lines (as `export` writes); importing twice stores nothing new."""
    from freqtrade_mem0.security.files import text_lines

    name = getattr(source, "name", "input")
    try:
        lines = text_lines(source, state.settings().key_ring(), f"export {name}")
        result = state.memory().import_jsonl(lines)
    except InvalidMemoryError as exc:
        raise InvalidMemoryError(f"{name}: {exc}") from exc
    click.echo(f"imported {len(result.written)}")


@click.command()
@pass_state
def optimize(state: CliState) -> None:
    """Optimize the store after a bulk load or a large cleanup (faster filtered search).

    The embedded store is busy meanwhile (about 50 s at 100k memories on two cores): run it
    while the bot is stopped.
    """
    memory = state.memory()
    before = memory.status()
    click.echo(f"optimising {before.points} points in {before.segments} segment(s)...", err=True)
    started = time.perf_counter()
    memory.optimize()
    after = memory.status()
    click.echo(
        f"optimised in {time.perf_counter() - started:.1f} s: {after.segments} segment(s), "
        f"{after.indexed_vectors} indexed vectors"
    )


def register(group: click.Group) -> None:
    """Add this module's commands to the group."""
    for command in (add, search, get, delete, stats, export_, import_, optimize):
        group.add_command(command)
