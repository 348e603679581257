"""Qdrant server or cluster through `qdrant-client` (and its `:memory:` mode for tests).

The collection has the same layout as the embedded store: named vectors `text` (cosine) and
`market` (Euclid), the same payload indexes, and the vector spaces recorded in the collection's
metadata so a second embedder cannot silently mix its vectors in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from freqtrade_mem0.errors import (
    ConfigError,
    IncompatibleStoreError,
    StoreUnavailableError,
)
from freqtrade_mem0.stores.base import (
    MARKET_VECTOR,
    PAYLOAD_INDEXES,
    PRINCIPAL_FIELD,
    TENANT_FIELD,
    TEXT_INDEX,
    TEXT_VECTOR,
    ScoredPoint,
    StoredPoint,
    StoreSpec,
    StoreStatus,
)

if TYPE_CHECKING:
    from freqtrade_mem0.query import Node

DEFAULT_COLLECTION = "freqtrade_mem0"
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "datetime": models.PayloadSchemaType.DATETIME,
    "float": models.PayloadSchemaType.FLOAT,
}


def _index_schema(key: str) -> Any:
    """How the payload index of `key` is made (see TENANT_FIELD, PRINCIPAL_FIELD)."""
    if key == TENANT_FIELD:
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    if key == PRINCIPAL_FIELD:
        return models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME, is_principal=True)
    return _SCHEMAS[PAYLOAD_INDEXES[key]]


@contextmanager
def qdrant_errors(location: str) -> Iterator[None]:
    """Translate qdrant-client's exceptions into the package's own."""
    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise ConfigError(
                f"Qdrant at {location} refused the credentials (HTTP {exc.status_code}); "
                "check QDRANT_API_KEY"
            ) from exc
        if exc.status_code is not None and exc.status_code < 500:
            raise StoreUnavailableError(
                f"Qdrant at {location} answered HTTP {exc.status_code}: {exc.content!r}"
            ) from exc
        raise StoreUnavailableError(f"Qdrant at {location} failed: {exc}") from exc
    except (ResponseHandlingException, httpx.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailableError(f"Qdrant at {location} is unreachable: {exc}") from exc


def _filter(where: Node | None) -> models.Filter | None:
    from freqtrade_mem0.query import to_qdrant_filter

    return to_qdrant_filter(where)


class QdrantStore:
    """A `MemoryStore` on a Qdrant collection."""

    backend = "qdrant"
    matches_texts = True

    def __init__(
        self,
        location: str,
        spec: StoreSpec,
        *,
        collection: str = DEFAULT_COLLECTION,
        api_key: str | None = None,
        timeout: float = 10.0,
        client: QdrantClient | None = None,
    ) -> None:
        self.location = location
        self.spec = spec
        self.collection = collection
        self.local = location == ":memory:"
        if client is not None:
            self._client: QdrantClient | None = client
        elif self.local:
            self._client = QdrantClient(location=":memory:")
        else:
            self._client = QdrantClient(url=location, api_key=api_key, timeout=int(timeout))
        self._ensure_collection()

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            raise StoreUnavailableError(f"the store at {self.location} is closed")
        return self._client

    def _ensure_collection(self) -> None:
        meta = {
            "format": "freqtrade-mem0/qdrant",
            "text_dim": self.spec.text_dim,
            "market_dim": self.spec.market_dim,
            "embedder": self.spec.embedder,
            "fingerprint_version": self.spec.fingerprint_version,
        }
        with qdrant_errors(self.location):
            if self.client.collection_exists(self.collection):
                info = self.client.get_collection(self.collection)
                have = info.config.metadata or {}
                for name in ("text_dim", "market_dim", "embedder", "fingerprint_version"):
                    if have.get(name) != meta[name]:
                        raise IncompatibleStoreError(
                            f"collection {self.collection!r} at {self.location} was made with "
                            f"{name}={have.get(name)!r}, this process uses {meta[name]!r}. Use "
                            "the same setting or another collection"
                        )
                if not self.local and TEXT_INDEX not in (info.payload_schema or {}):
                    self._index_texts()  # a collection made before memories' texts were indexed
                return
            self.client.create_collection(
                self.collection,
                vectors_config={
                    TEXT_VECTOR: models.VectorParams(
                        size=self.spec.text_dim, distance=models.Distance.COSINE
                    ),
                    MARKET_VECTOR: models.VectorParams(
                        size=self.spec.market_dim, distance=models.Distance.EUCLID
                    ),
                },
                metadata=meta,
            )
            if not self.local:  # local mode ignores payload indexes (and warns about them)
                for key in PAYLOAD_INDEXES:
                    self.client.create_payload_index(
                        self.collection, key, field_schema=_index_schema(key), wait=True
                    )
                self._index_texts()

    def _index_texts(self) -> None:
        """Index memories' texts (see TEXT_INDEX)."""
        self.client.create_payload_index(
            self.collection, TEXT_INDEX, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
        )

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points, waiting until Qdrant has applied them."""
        if not points:
            return
        batch = [
            models.PointStruct(id=p.id, vector=dict(p.vectors), payload=p.payload) for p in points
        ]
        with qdrant_errors(self.location):
            self.client.upsert(self.collection, points=batch, wait=True)

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids."""
        if not ids:
            return []
        with qdrant_errors(self.location):
            records = self.client.retrieve(
                self.collection, ids=list(ids), with_payload=True, with_vectors=with_vectors
            )
        return [self._stored(r) for r in records]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id."""
        if not ids:
            return
        with qdrant_errors(self.location):
            self.client.delete(
                self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True
            )

    def delete_where(self, where: Node | None) -> None:
        """Delete every point the filter matches."""
        selector = models.FilterSelector(filter=_filter(where) or models.Filter())
        with qdrant_errors(self.location):
            self.client.delete(self.collection, points_selector=selector, wait=True)

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
        """Nearest neighbours in one named vector space."""
        with qdrant_errors(self.location):
            response = self.client.query_points(
                self.collection,
                query=[float(x) for x in vector],
                using=using,
                query_filter=_filter(where),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
        return [ScoredPoint(self._stored(p), float(p.score)) for p in response.points]

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points in id order."""
        with qdrant_errors(self.location):
            records, next_offset = self.client.scroll(
                self.collection,
                scroll_filter=_filter(where),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
        return [self._stored(r) for r in records], (
            None if next_offset is None else str(next_offset)
        )

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points ordered by timestamp."""
        direction = models.Direction.ASC if ascending else models.Direction.DESC
        with qdrant_errors(self.location):
            records, _ = self.client.scroll(
                self.collection,
                scroll_filter=_filter(where),
                limit=limit,
                order_by=models.OrderBy(key="timestamp", direction=direction),
                with_payload=True,
            )
        return [self._stored(r) for r in records]

    def count(self, where: Node | None = None) -> int:
        """Exact count."""
        with qdrant_errors(self.location):
            return int(
                self.client.count(self.collection, count_filter=_filter(where), exact=True).count
            )

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts of a keyword field."""
        with qdrant_errors(self.location):
            response = self.client.facet(
                self.collection, key, facet_filter=_filter(where), limit=limit, exact=True
            )
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def status(self) -> StoreStatus:
        """Points, indexed vectors, segments and collection health."""
        with qdrant_errors(self.location):
            info = self.client.get_collection(self.collection)
        status = getattr(info.status, "value", str(info.status))
        return StoreStatus(
            backend=self.backend,
            location=self.location,
            points=int(info.points_count or 0),
            indexed_vectors=int(info.indexed_vectors_count or 0),
            segments=int(info.segments_count or 0),
            healthy=status in ("green", "yellow"),
            detail=f"collection {self.collection}: {status}",
            payload_indexes=tuple(sorted(info.payload_schema or {})),
        )

    def optimize(self) -> None:
        """Ask the server to merge segments now (local mode has nothing to optimise)."""
        if self.local:
            return
        with qdrant_errors(self.location):
            # An empty optimizer diff makes the server re-plan optimisations now.
            self.client.update_collection(
                self.collection, optimizers_config=models.OptimizersConfigDiff()
            )

    def close(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @staticmethod
    def _stored(record: Any) -> StoredPoint:
        vectors = record.vector if isinstance(record.vector, dict) else {}
        return StoredPoint(
            id=str(record.id),
            payload=dict(record.payload or {}),
            vectors={name: [float(x) for x in values] for name, values in vectors.items()},
        )
