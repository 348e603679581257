"""The command group, its shared options, error-to-exit-code mapping and output helpers."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from freqtrade_mem0.config import Settings, load_settings
from freqtrade_mem0.errors import (
    AuthenticationError,
    ConfigError,
    Mem0Error,
    NotFoundError,
    OperationalError,
    PermissionDeniedError,
    TemporaryError,
)
from freqtrade_mem0.memory import Memory

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4
EXIT_AUTH = 5


def exit_code(error: Mem0Error) -> int:
    """The exit code for an error (see the module docstring of `freqtrade_mem0.cli`)."""
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(error, TemporaryError):
        return EXIT_UNAVAILABLE
    if isinstance(error, OperationalError):
        return EXIT_USAGE
    return EXIT_FAILURE


class Mem0Group(click.Group):
    """A click group that turns the package's errors into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Mem0Error as error:
            click.secho(f"error: {error}", err=True, fg="red")
            ctx.exit(exit_code(error))


@dataclass
class CliState:
    """Options shared by every command; the memory opens on first use and closes at exit."""

    store: str | None
    config_file: Path | None
    user_data_dir: Path | None
    embedder: str | None
    _memory: Memory | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        section: dict[str, Any] = {}
        if self.config_file is not None:
            section = read_config_section(self.config_file)
        if self.embedder:
            section["embedder"] = self.embedder
        return load_settings(section)

    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = Memory.open(
                self.store, settings=self.settings(), user_data_dir=self.user_data_dir
            )
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


def read_config_section(path: Path) -> dict[str, Any]:
    """The `"mem0"` section of a freqtrade config file (empty if it has none)."""
    try:
        config = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc
    section = config.get("mem0", {}) if isinstance(config, dict) else {}
    if not isinstance(section, dict):
        raise ConfigError(f'config {path}: the "mem0" section must be an object')
    return section


@click.group(cls=Mem0Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    envvar="MEM0_STORE",
    help="Store location: a folder (embedded, default user_data/mem0), ':memory:', "
    "'qdrant+http://host:6333', 'http://host:8080' (a memory service) or 'mem0:'.",
)
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help='A freqtrade config file whose "mem0" section to use.',
)
@click.option(
    "--user-data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="freqtrade user data folder (the embedded store defaults to <it>/mem0).",
)
@click.option("--embedder", type=click.Choice(["minilm", "hashing"]), help="Text embedder.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="freqtrade-mem0")
@click.pass_context
def cli(
    ctx: click.Context,
    store: str | None,
    config_file: Path | None,
    user_data_dir: Path | None,
    embedder: str | None,
    verbose: int,
) -> None:
    """freqtrade-mem0: a trading memory for Freqtrade strategies."""
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    state = CliState(store, config_file, user_data_dir, embedder)
    ctx.obj = state
    ctx.call_on_close(state.close)


def emit_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str))


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Print rows as a plain aligned table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            click.echo("  ".join("-" * w for w in widths))
