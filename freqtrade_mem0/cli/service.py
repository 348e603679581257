"""`freqtrade-mem0 serve`: run the memory service."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from freqtrade_mem0.errors import ConfigError, TemporaryError

if TYPE_CHECKING:
    from freqtrade_mem0.memory import Memory


@click.command()
@click.option(
    "-c",
    "--config",
    "service_config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON, YAML or TOML file of service settings (see docs/service.md).",
)
@click.option(
    "--store",
    help="Store location: a folder, ':memory:' or 'qdrant+http://host:6333' [env MEM0_STORE].",
)
@click.option("--host", help="Address to listen on [env MEM0_HOST; default 0.0.0.0].")
@click.option("--port", type=int, help="Port to listen on [env MEM0_PORT; default 8080].")
@click.option("--qdrant-url", help="A Qdrant server [env QDRANT_URL; default: embedded store].")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the embedded store [default user_data/mem0].",
)
@click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of backups [default user_data/mem0-backups].",
)
@click.option("--controller-url", help="Controller to notify [env CONTROLLER_URL].")
@click.option("--n8n-webhook-url", help="n8n webhook to notify [env N8N_WEBHOOK_URL].")
@click.option("--notify-filter", help="Which new memories to announce (a query; default all).")
@click.option("--max-body-bytes", type=int, help="Largest request body [default 8 MiB].")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="Log level [default info].",
)
@click.option(
    "--keys-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="API keys file [env MEM0_KEYS_FILE; default user_data/mem0-keys.json].",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Serve HTTPS with this certificate chain (PEM) [env MEM0_SSL_CERTFILE].",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The certificate's private key (PEM) [env MEM0_SSL_KEYFILE].",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    default=None,
    help="Serve without authentication: development on a loopback address only.",
)
@click.pass_context
def serve(ctx: click.Context, service_config: Path | None, **flags: Any) -> None:
    """Run the memory service (REST API, OpenAPI at /docs).

    The store is --store if given, else --qdrant-url / QDRANT_URL, else the embedded store in
    --data-dir. Settings come from defaults, then --config, then the environment, then flags.
    """
    try:
        import uvicorn

        from freqtrade_mem0.service import create_app, load_service_settings
        from freqtrade_mem0.service.app import open_memory
    except ImportError as exc:
        raise ConfigError(
            f"the service needs the server extra: pip install 'freqtrade-mem0[server]' ({exc})"
        ) from exc
    state = ctx.obj
    overrides = dict(flags)
    overrides["store"] = flags["store"] or getattr(state, "store", None)
    overrides["embedder"] = getattr(state, "embedder", None)
    settings = load_service_settings(service_config, **overrides)
    # Open now so that a wrong store stops the start with the CLI's message; a store that is
    # only unreachable for now (a server still starting) is opened later, on demand.
    memory: Memory | None = None
    try:
        memory = open_memory(settings)
    except TemporaryError as exc:
        click.secho(f"warning: {exc}; serving anyway, the store is opened on demand", err=True)
    try:
        app = create_app(settings, memory)
        scheme = "https" if settings.ssl_certfile else "http"
        click.echo(
            f"memory service on {scheme}://{settings.host}:{settings.port} "
            f"(store {settings.location()}; API docs at /docs)",
            err=True,
        )
        logging.getLogger("uvicorn.access").addFilter(RedactKeys())
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
            ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        )
    finally:
        if memory is not None:
            memory.close()


class RedactKeys(logging.Filter):
    """Hides `api_key=...` (freqtrade's webhook URL carries its key) in access log lines."""

    PATTERN = re.compile(r"(api_key=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self.PATTERN.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def register(group: click.Group) -> None:
    """Add `serve` to the group."""
    group.add_command(serve)
