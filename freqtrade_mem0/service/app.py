"""The memory service's application: `create_app(settings)` builds it, nothing at import.

The core is synchronous: routes are plain functions that FastAPI runs in its thread pool,
calling the same `Memory` facade the CLI and the mixin use. The two write routes are coroutines
that hand their store work to the service's own threads (`ServiceState.run`), a cheaper hop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from freqtrade_mem0 import __version__
from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import make_embedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import parse
from freqtrade_mem0.service.auth import build_authenticator
from freqtrade_mem0.service.backup_schedule import BackupScheduler
from freqtrade_mem0.service.deps import router_dependencies
from freqtrade_mem0.service.errors import error_responses, install_error_handlers
from freqtrade_mem0.service.middleware import ServiceMiddleware
from freqtrade_mem0.service.notify import Notifier
from freqtrade_mem0.service.routes import (
    backup,
    data,
    docs,
    encryption,
    mem0_platform,
    memories,
    ops,
    search,
    store,
    webhook,
)
from freqtrade_mem0.service.routes.encryption import RotationJob
from freqtrade_mem0.service.settings import ServiceSettings
from freqtrade_mem0.service.state import MemoryProvider, ServiceState

DESCRIPTION = """\
The memory that Freqtrade bots, hyperopt workers, n8n workflows and a controller share.

Memories travel in one format: `{"messages": [...], "metadata": {"type", "strategy",
"timestamp", "metrics", ...}}`. Searches use a Lucene-style query language. Every error answer
has the same body: `{"error": <name>, "detail": <what to fix>}`.

`/v1/store/...` is the store protocol that `freqtrade-mem0 --store http://...` clients use.
"""


def open_memory(settings: ServiceSettings) -> Memory:
    """Open the store the settings name, with their embedder."""
    package = Settings(
        store=settings.location(),
        collection=settings.collection,
        qdrant_api_key=settings.qdrant_api_key,
        embedder=settings.embedder,
        encryption_keys=settings.encryption_keys,
        encryption_key_file=str(settings.encryption_key_file)
        if settings.encryption_key_file
        else None,
    )
    return Memory.open(
        settings.location(), settings=package, embedder=make_embedder(settings.embedder)
    )


def make_notifier(settings: ServiceSettings) -> Notifier:
    """The notifier of new memories the settings describe."""
    return Notifier(
        settings.notify_targets,
        where=parse(settings.notify_filter).where,
        retries=settings.notify_retries,
        backoff=settings.notify_backoff_seconds,
        backoff_max=settings.notify_backoff_max_seconds,
        timeout=settings.notify_timeout_seconds,
        queue_size=settings.notify_queue_size,
    )


def create_app(settings: ServiceSettings, memory: Memory | None = None) -> FastAPI:
    """The memory service.

    Args:
        settings: validated settings (`load_service_settings`).
        memory: an open memory to serve (the caller closes it); default: open the store the
            settings name at start-up (and again later while it is unavailable), and close it
            at shutdown.

    Example:
        >>> app = create_app(load_service_settings(embedder="hashing"))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    provider = (
        MemoryProvider(memory=memory)
        if memory is not None
        else MemoryProvider(opener=lambda: open_memory(settings))
    )
    state = ServiceState(settings=settings, memories=provider, notifier=make_notifier(settings))
    authenticator = build_authenticator(settings)  # refuses a service open to anyone
    scheduler = BackupScheduler(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        shared: ServiceState = app.state.mem0
        shared.memories.try_open()
        shared.notifier.start()
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            shared.notifier.stop(timeout=shared.settings.notify_timeout_seconds)
            shared.stop_workers()
            shared.memories.close()

    app = FastAPI(
        title="freqtrade-mem0",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.public_docs else None,
        openapi_url="/openapi.json" if settings.public_docs else None,
        redoc_url=None,
    )
    app.state.mem0 = state
    app.state.mem0_auth = authenticator
    app.state.mem0_rotation = RotationJob()
    app.state.mem0_backups = scheduler
    install_error_handlers(app)
    app.add_middleware(
        ServiceMiddleware,
        metrics=state.metrics,
        max_body_bytes=settings.max_body_bytes,
        large_body_paths=("/import",),
        max_large_body_bytes=settings.max_import_bytes,
    )
    app.include_router(ops.health_router)
    guard = router_dependencies(settings)
    refused = error_responses(401, 403)
    for module in (memories, search, ops, data, backup, webhook, store, encryption, mem0_platform):
        app.include_router(module.router, dependencies=guard, responses=refused)
    if not settings.public_docs:
        app.include_router(docs.router, dependencies=guard)
    return app
