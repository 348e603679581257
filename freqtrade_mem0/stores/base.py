"""The store protocol: the few operations every backend implements.

Everything else (records, hybrid search, stats, export, backup) is built once on top of these in
`freqtrade_mem0.memory`. A backend stores points: an id, a JSON payload and named vectors
(`text`: the text embedding, cosine; `market`: the market fingerprint, Euclidean). Filters arrive
as the query language's AST and each backend translates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from freqtrade_mem0.models import DATETIME_FIELDS, INDEXED_METRICS, KEYWORD_FIELDS

if TYPE_CHECKING:
    from freqtrade_mem0.query import Node

TEXT_VECTOR = "text"
MARKET_VECTOR = "market"

# Payload indexes every backend creates: keyword fields, datetimes, the busiest metrics.
PAYLOAD_INDEXES: dict[str, str] = {
    **{name: "keyword" for name in KEYWORD_FIELDS if name != "id"},
    **dict.fromkeys(DATETIME_FIELDS, "datetime"),
    **{f"metrics.{name}": "float" for name in INDEXED_METRICS},
    "ts": "float",
}
# Each memory's exact text, indexed where a store keeps it in clear: a backtest run again finds
# the vectors of the texts it stored before (`Memory.stored_text_vectors`) in 2 ms, where
# reading every memory of its strategy took 0.35 s at 50k. Not a field of the query language.
TEXT_INDEX = "text"
# Layout hints for the engines' indexes. Most searches filter on one strategy and a time
# range (recall never looks past its clock): Qdrant keeps each strategy's points together
# (tenant) and orders them by time (principal), so such a filter reads fewer points. On
# 100k memories the filtered search took half the time.
TENANT_FIELD = "strategy"
PRINCIPAL_FIELD = "timestamp"


@dataclass(frozen=True)
class StoredPoint:
    """One point as a backend holds it."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredPoint:
    """A search hit. For cosine a higher score is closer; for Euclid the score is the distance."""

    point: StoredPoint
    score: float


@dataclass(frozen=True)
class StoreStatus:
    """Health and size of a store's collection."""

    backend: str
    location: str
    points: int
    indexed_vectors: int
    segments: int
    healthy: bool
    detail: str = ""
    disk_bytes: int | None = None
    payload_indexes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreSpec:
    """What a collection holds: vector spaces and their dimensions."""

    text_dim: int
    market_dim: int
    embedder: str
    fingerprint_version: int


@runtime_checkable
class MemoryStore(Protocol):
    """A vector store of memories."""

    backend: str
    location: str
    # Whether a filter may name memories' exact `text` (see TEXT_INDEX): Qdrant keeps texts in
    # clear; the service's query language has no such field, Mem0 keeps the text as its `data`,
    # and an encrypted store holds only ciphertext.
    matches_texts: bool

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points by id (idempotent)."""
        ...

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids; unknown ids are left out."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; unknown ids are ignored."""
        ...

    def delete_where(self, where: Node | None) -> None:
        """Delete every point the filter matches (None: every point)."""
        ...

    def search(
        self,
        vector: Sequence[float],
        *,
        using: str,
        where: Node | None = None,
        limit: int = 10,
        offset: int = 0,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """Nearest neighbours of `vector` in the named vector space, filtered."""
        ...

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points in id order and the offset of the next page (None at the end)."""
        ...

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points ordered by `timestamp` (newest first unless `ascending`)."""
        ...

    def count(self, where: Node | None = None) -> int:
        """Exact number of points the filter matches."""
        ...

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Counts of the values of a keyword field, most frequent first."""
        ...

    def status(self) -> StoreStatus:
        """Health and size."""
        ...

    def optimize(self) -> None:
        """Merge segments and build indexes now (blocking)."""
        ...

    def close(self) -> None:
        """Release files, locks and connections. Safe to call twice."""
        ...
