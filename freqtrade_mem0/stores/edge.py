"""The embedded default: Qdrant Edge, the real Qdrant engine in-process.

A store is a folder (by default `user_data/mem0/`) holding the shard and `store.json`, which
records the vector spaces it was made with. One process at a time may hold it: the shard's
write-ahead log is locked, and a second opener gets `StoreLockedError` telling it to go through
the memory service or a Qdrant server instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from freqtrade_mem0.errors import (
    IncompatibleStoreError,
    StoreLockedError,
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

META_FILE = "store.json"
SHARD_DIR = "shard"
_SCHEMAS = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "datetime": qe.PayloadSchemaType.Datetime,
    "float": qe.PayloadSchemaType.Float,
}


# How `optimize()` lays out a new store. No HNSW graph (m=0): searches score every point the
# filter keeps, so results never depend on a graph's reach, and optimizing 100k memories takes
# under a minute on two cores instead of about six. Optimized segments keep an int8
# copy of the vectors in RAM: candidates are scored on it and the best are rescored on the
# original vectors (SEARCH_PARAMS), which makes filtered search two to three times faster.
NO_GRAPH = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=0)
INT8_IN_RAM = qe.ScalarQuantizationConfig(
    type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
)
# Only a backtest run again reads the text index, a few times, and an index held in RAM is read
# whole at every open: 0.13 s of a 0.53 s open at 50k memories. On disk (the page cache keeps
# what lookups read) it adds nothing measurable to the open, and a lookup of 16 texts takes
# 2 to 4 ms instead of 1 to 2.
TEXT_INDEX_MEMORY = qe.Memory.Cached
RESCORE_OVERSAMPLING = 4.0
SEARCH_PARAMS = qe.SearchParams(
    quantization=qe.QuantizationSearchParams(rescore=True, oversampling=RESCORE_OVERSAMPLING)
)


@contextmanager
def edge_errors(path: Path) -> Iterator[None]:
    """Translate Qdrant Edge's exceptions into the package's own."""
    try:
        yield
    except (StoreUnavailableError, IncompatibleStoreError):
        raise
    except Exception as exc:
        text = str(exc)
        if "WouldBlock" in text:  # the WAL is locked by another process
            raise StoreLockedError(
                f"the embedded store at {path} is open in another process. One process at a "
                "time may hold an embedded store: run `freqtrade-mem0 serve` and point the "
                'other processes at it (MEM0_URL / "store": "http://..."), or use a Qdrant '
                "server (QDRANT_URL)"
            ) from exc
        raise StoreUnavailableError(f"embedded store at {path}: {text}") from exc


def _edge_filter(where: Node | None) -> qe.Filter | None:
    from freqtrade_mem0.query import to_edge_filter

    return to_edge_filter(where)


def _index_schema(key: str) -> Any:
    """How the payload index of `key` is made (see TENANT_FIELD, PRINCIPAL_FIELD)."""
    if key == TENANT_FIELD:
        return qe.KeywordIndexParams(is_tenant=True)
    if key == PRINCIPAL_FIELD:
        return qe.DatetimeIndexParams(is_principal=True)
    return _SCHEMAS[PAYLOAD_INDEXES[key]]


def _point_id(value: Any) -> str:
    return str(value)


class EdgeStore:
    """A `MemoryStore` on a Qdrant Edge shard in a local folder."""

    backend = "edge"
    matches_texts = True

    def __init__(self, path: str | Path, spec: StoreSpec) -> None:
        self.path = Path(path).expanduser().resolve()
        self.location = str(self.path)
        self.spec = spec
        self._lock = threading.RLock()  # serialises writes; Edge reads are thread-safe
        self._shard: qe.EdgeShard | None = self._open()

    def _open(self) -> qe.EdgeShard:
        meta_path = self.path / META_FILE
        shard_path = self.path / SHARD_DIR
        with edge_errors(self.path):
            if meta_path.exists():
                self._check_spec(json.loads(meta_path.read_text()))
                # With the current layout: a store made before it optimizes the same way from
                # now on (the shard records the config; segments already built stay as they are).
                shard = qe.EdgeShard.load(str(shard_path), self._config())
                try:
                    self._index_texts(shard)
                except BaseException:
                    shard.close()  # and with it the lock, for the next attempt
                    raise
                return shard
            if shard_path.exists() and any(shard_path.iterdir()):
                raise IncompatibleStoreError(
                    f"{shard_path} holds a shard without {META_FILE}; it was not made by "
                    "freqtrade-mem0. Point the store elsewhere"
                )
            self.path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(shard_path), self._config())
            for key in PAYLOAD_INDEXES:
                shard.update(qe.UpdateOperation.create_field_index(key, _index_schema(key)))
            self._index_texts(shard)
            shard.flush()
            meta = {
                "format": "freqtrade-mem0/edge",
                "text_dim": self.spec.text_dim,
                "market_dim": self.spec.market_dim,
                "embedder": self.spec.embedder,
                "fingerprint_version": self.spec.fingerprint_version,
            }
            # Written last: a folder with store.json always has a complete shard beside it.
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            tmp.replace(meta_path)
            return shard

    def _index_texts(self, shard: qe.EdgeShard) -> None:
        """Index memories' texts (see TEXT_INDEX) on disk. A store made before that is given
        the index, or has it remade on disk, at its first open, once (0.8 s at 50k memories)."""
        index = shard.info().payload_schema.get(TEXT_INDEX)
        if index is not None and getattr(index.params, "memory", None) is TEXT_INDEX_MEMORY:
            return
        if index is not None:
            shard.update(qe.UpdateOperation.delete_field_index(TEXT_INDEX))
        shard.update(
            qe.UpdateOperation.create_field_index(
                TEXT_INDEX, qe.KeywordIndexParams(memory=TEXT_INDEX_MEMORY)
            )
        )

    def _config(self) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            hnsw_config=NO_GRAPH,
            quantization_config=INT8_IN_RAM,
            vectors={
                TEXT_VECTOR: qe.EdgeVectorParams(
                    size=self.spec.text_dim, distance=qe.Distance.Cosine
                ),
                MARKET_VECTOR: qe.EdgeVectorParams(
                    size=self.spec.market_dim, distance=qe.Distance.Euclid
                ),
            },
        )

    def _check_spec(self, meta: dict[str, Any]) -> None:
        for name in ("embedder", "text_dim", "market_dim", "fingerprint_version"):
            want, have = getattr(self.spec, name), meta.get(name)
            if want != have:
                raise IncompatibleStoreError(
                    f"the store at {self.path} was made with {name}={have!r}, this process uses "
                    f"{want!r}. Use the same setting, or export the memories and import them "
                    "into a new store"
                )

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise StoreUnavailableError(f"the embedded store at {self.path} is closed")
        return self._shard

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points; durable through the shard's WAL when this returns."""
        if not points:
            return
        batch = [qe.Point(p.id, dict(p.vectors), p.payload) for p in points]
        with self._lock, edge_errors(self.path):
            self.shard.update(qe.UpdateOperation.upsert_points(batch))

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids."""
        if not ids:
            return []
        with edge_errors(self.path):
            records = self.shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [self._stored(r) for r in records]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id."""
        if not ids:
            return
        with self._lock, edge_errors(self.path):
            self.shard.update(qe.UpdateOperation.delete_points(list(ids)))

    def delete_where(self, where: Node | None) -> None:
        """Delete every point the filter matches."""
        with self._lock, edge_errors(self.path):
            self.shard.update(
                qe.UpdateOperation.delete_points_by_filter(_edge_filter(where) or qe.Filter())
            )

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
        request = qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=qe.Query.Nearest([float(x) for x in vector], using=using),
            filter=_edge_filter(where),
            params=SEARCH_PARAMS,
            with_payload=True,
            with_vector=with_vectors,
        )
        with edge_errors(self.path):
            hits = self.shard.query(request)
        return [ScoredPoint(self._stored(h), float(h.score)) for h in hits]

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points in id order."""
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_edge_filter(where),
            with_payload=True,
            with_vector=with_vectors,
        )
        with edge_errors(self.path):
            records, next_offset = self.shard.scroll(request)
        return [self._stored(r) for r in records], (
            None if next_offset is None else _point_id(next_offset)
        )

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points ordered by timestamp."""
        direction = qe.Direction.Asc if ascending else qe.Direction.Desc
        request = qe.ScrollRequest(
            limit=limit,
            filter=_edge_filter(where),
            with_payload=True,
            order_by=qe.OrderBy("timestamp", direction=direction),
        )
        with edge_errors(self.path):
            records, _ = self.shard.scroll(request)
        return [self._stored(r) for r in records]

    def count(self, where: Node | None = None) -> int:
        """Exact count."""
        with edge_errors(self.path):
            return int(self.shard.count(qe.CountRequest(exact=True, filter=_edge_filter(where))))

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts of an indexed keyword field."""
        request = qe.FacetRequest(key=key, limit=limit, exact=True, filter=_edge_filter(where))
        with edge_errors(self.path):
            response = self.shard.facet(request)
        # The payload index keeps values whose points were all deleted, counted 0.
        return {str(hit.value): int(hit.count) for hit in response.hits if hit.count}

    def status(self) -> StoreStatus:
        """Points, indexed vectors, segments and size on disk."""
        with edge_errors(self.path):
            info = self.shard.info()
        disk = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return StoreStatus(
            backend=self.backend,
            location=self.location,
            points=int(info.points_count),
            indexed_vectors=int(info.indexed_vectors_count),
            segments=int(info.segments_count),
            healthy=True,
            disk_bytes=disk,
            payload_indexes=tuple(sorted(info.payload_schema)),
        )

    def optimize(self) -> None:
        """Merge segments into an optimized one with its in-RAM int8 vectors.

        Blocks until done, and holds the interpreter meanwhile (Qdrant Edge does not release
        the GIL here): run it from the CLI or the service, never inside a trading bot.
        """
        with self._lock, edge_errors(self.path):
            self._adopt_index_layout()
            self.shard.optimize()

    def _adopt_index_layout(self) -> None:
        """Remake the tenant and principal indexes of a store made before they existed."""
        indexes = self.shard.info().payload_schema
        for key in (TENANT_FIELD, PRINCIPAL_FIELD):
            index = indexes.get(key)
            if index is not None and index.params is not None:
                continue  # made with its tenant or principal parameters already
            if index is not None:
                self.shard.update(qe.UpdateOperation.delete_field_index(key))
            self.shard.update(qe.UpdateOperation.create_field_index(key, _index_schema(key)))

    def flush(self) -> None:
        """Write everything pending to the segment files."""
        with self._lock, edge_errors(self.path):
            self.shard.flush()

    def close(self) -> None:
        """Flush and release the shard and its lock."""
        with self._lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                with edge_errors(self.path):
                    shard.flush()
                    shard.close()

    @staticmethod
    def _stored(record: Any) -> StoredPoint:
        vectors = record.vector if isinstance(record.vector, dict) else {}
        return StoredPoint(
            id=_point_id(record.id),
            payload=dict(record.payload or {}),
            vectors={name: list(values) for name, values in vectors.items()},
        )
