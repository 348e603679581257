"""Memory stores, chosen by one location string in one factory.

| location                              | backend                                     |
|---------------------------------------|---------------------------------------------|
| a folder, or `edge:<folder>`          | embedded Qdrant Edge (the default)          |
| `:memory:`                            | qdrant-client in memory (tests)             |
| `qdrant+http://host:6333` (or https)  | a Qdrant server or cluster                  |
| `http://host:8080` (or https)         | a memory service (`freqtrade-mem0 serve`)   |
| `mem0:` (configured by the "mem0" section) | the mem0ai library's `Memory`          |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.stores.base import (
    MARKET_VECTOR,
    TEXT_VECTOR,
    MemoryStore,
    ScoredPoint,
    StoredPoint,
    StoreSpec,
    StoreStatus,
)

if TYPE_CHECKING:
    from freqtrade_mem0.config import Settings

__all__ = [
    "MARKET_VECTOR",
    "TEXT_VECTOR",
    "MemoryStore",
    "ScoredPoint",
    "StoreSpec",
    "StoreStatus",
    "StoredPoint",
    "backend_of",
    "open_store",
]


def backend_of(location: str) -> str:
    """The backend a location string selects: edge, qdrant, http or mem0."""
    if location in (":memory:", "qdrant::memory:") or location.startswith(
        ("qdrant+http://", "qdrant+https://")
    ):
        return "qdrant"
    if location.startswith(("http://", "https://")):
        return "http"
    if location.startswith("mem0:"):  # a folder may well be called "mem0": the colon decides
        return "mem0"
    if "://" in location:
        raise ConfigError(
            f"unknown store location {location!r}: use a folder, ':memory:', "
            "'qdrant+http(s)://host:port', 'http(s)://host:port' (a memory service) or 'mem0:'"
        )
    return "edge"


def open_store(location: str, spec: StoreSpec, settings: Settings) -> MemoryStore:
    """Open (creating if needed) the store a location string names.

    Raises:
        ConfigError: the location is not understood.
        StoreLockedError: an embedded store is held by another process.
        StoreUnavailableError: a server cannot be reached.
        IncompatibleStoreError: the store holds vectors of another embedder or fingerprint.

    With encryption keys in the settings, an embedded or Qdrant store is wrapped in an
    `EncryptedStore` (a memory service encrypts on its side: an `http` store is never wrapped).
    """
    backend = backend_of(location)
    ring = settings.key_ring() if backend in ("edge", "qdrant", "mem0") else None
    if ring is None:
        return _open_backend(backend, location, spec, settings)
    if backend == "mem0":
        raise ConfigError(
            "encryption at rest works with the embedded and Qdrant stores, not the mem0 backend "
            "(mem0ai reads the memory text itself)"
        )
    from freqtrade_mem0.stores.encrypted import EncryptedStore

    return EncryptedStore(_open_backend(backend, location, spec, settings), ring)


def _open_backend(backend: str, location: str, spec: StoreSpec, settings: Settings) -> MemoryStore:
    if backend == "edge":
        from freqtrade_mem0.stores.edge import EdgeStore

        return EdgeStore(location.removeprefix("edge:"), spec)
    if backend == "qdrant":
        from freqtrade_mem0.stores.qdrant import QdrantStore

        url = ":memory:" if location.endswith(":memory:") else location.removeprefix("qdrant+")
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantStore(
            url,
            spec,
            collection=settings.collection,
            api_key=key,
            timeout=settings.timeout_seconds,
        )
    if backend == "http":
        from freqtrade_mem0.stores.http import HttpStore

        return HttpStore(location, spec, settings)
    from freqtrade_mem0.stores.mem0 import Mem0Store

    return Mem0Store(spec, settings, location)
