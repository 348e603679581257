"""`/v1/store/...`: the store protocol over HTTP, for `freqtrade_mem0.stores.http.HttpStore`.

Each route is one method of `MemoryStore` (upsert, retrieve, delete, delete-where, search,
scroll, latest, count, facet, status, optimize) plus `spec`, so a process that opens
`http://host:8080` as its store runs the same `Memory` facade as one on the embedded store:
it embeds texts itself and exchanges points (id, payload, vectors). Filters travel as
field-only queries in the query language (`freqtrade_mem0.query.to_lucene` renders them,
`parse` reads them back; the congruence tests prove the round trip).

This is an internal protocol between the package's own processes, versioned by its prefix;
people and workflows use the public routes (`/memory`, `/search`, ...). Every point written is
validated as a memory first, with vectors of the collection's sizes: a malformed one is
refused (422) and nothing of its request is written.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError, field_validator

from freqtrade_mem0.errors import InvalidMemoryError
from freqtrade_mem0.memory import Memory, store_spec
from freqtrade_mem0.models import MemoryRecord, format_validation_error
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS
from freqtrade_mem0.service.params import field_filter
from freqtrade_mem0.stores import MARKET_VECTOR, TEXT_VECTOR, StoredPoint

PREFIX = "/v1/store"
router = APIRouter(prefix=PREFIX, tags=["store protocol (internal)"], responses=COMMON_ERRORS)

MAX_POINTS = 10_000
Where = Annotated[str, Field(max_length=20_000, description="field terms only; empty: all")]
Vector = Annotated[list[float], Field(max_length=4096)]
# The keyword fields with a payload index (a test holds this to `PAYLOAD_INDEXES`).
FacetKey = Literal[
    "kind",
    "type",
    "strategy",
    "pair",
    "timeframe",
    "exchange",
    "mode",
    "run_id",
    "side",
    "enter_tag",
    "exit_reason",
    "tags",
]


class Point(BaseModel):
    """A point: id, payload (a memory as `MemoryRecord.to_payload()` makes it), vectors."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, list[float]] = Field(default_factory=dict)

    @classmethod
    def of(cls, point: StoredPoint) -> Point:
        """From a store's point."""
        return cls(id=point.id, payload=point.payload, vectors=point.vectors)


class PointIn(BaseModel):
    """A point to write."""

    id: UUID
    payload: dict[str, Any]
    vectors: dict[str, Vector] = Field(description="`text` (required) and `market`")

    @field_validator("vectors")
    @classmethod
    def _known(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        unknown = set(value) - {TEXT_VECTOR, MARKET_VECTOR}
        if unknown:
            raise ValueError(f"unknown vectors {sorted(unknown)}: use text and market")
        return value


class Upsert(BaseModel):
    points: list[PointIn] = Field(max_length=MAX_POINTS)


class Ids(BaseModel):
    ids: list[UUID] = Field(max_length=MAX_POINTS)
    with_vectors: bool = False


class Filter(BaseModel):
    where: Where = ""


class Search(BaseModel):
    vector: Vector
    using: Literal["text", "market"]
    where: Where = ""
    limit: int = Field(default=10, ge=1, le=MAX_POINTS)
    offset: int = Field(default=0, ge=0, le=100_000)
    with_vectors: bool = False


class Scroll(BaseModel):
    where: Where = ""
    limit: int = Field(default=256, ge=1, le=MAX_POINTS)
    offset: UUID | None = None
    with_vectors: bool = False


class Latest(BaseModel):
    where: Where = ""
    limit: int = Field(default=10, ge=1, le=MAX_POINTS + 100_000)
    ascending: bool = False


class Facet(BaseModel):
    key: FacetKey
    where: Where = ""
    limit: int = Field(default=100, ge=1, le=MAX_POINTS)


class Points(BaseModel):
    points: list[Point]


class Page(BaseModel):
    points: list[Point]
    next_offset: str | None


class Hit(BaseModel):
    point: Point
    score: float


class Hits(BaseModel):
    hits: list[Hit]


class Count(BaseModel):
    count: int


class Counts(BaseModel):
    counts: dict[str, int]


class Spec(BaseModel):
    """The collection's vector spaces (a client must embed with the same embedder)."""

    backend: str
    text_dim: int
    market_dim: int
    embedder: str
    fingerprint_version: int


class Status(BaseModel):
    backend: str
    location: str
    points: int
    indexed_vectors: int
    segments: int
    healthy: bool
    detail: str
    disk_bytes: int | None
    payload_indexes: list[str]


class Done(BaseModel):
    ok: bool = True


@router.get("/spec", response_model=Spec)
def spec(memory: MemoryDep) -> Spec:
    """The vector spaces of the collection."""
    own = store_spec(memory.embedder)
    return Spec(
        backend=memory.store.backend,
        text_dim=own.text_dim,
        market_dim=own.market_dim,
        embedder=own.embedder,
        fingerprint_version=own.fingerprint_version,
    )


@router.post("/upsert", response_model=Done)
def upsert(body: Upsert, memory: MemoryDep, state: StateDep) -> Done:
    """Insert or replace points (all are validated before any is written)."""
    points = [_checked(memory, index, point) for index, point in enumerate(body.points)]
    with state.gate.writing():
        memory.store.upsert(points)
    state.metrics.memories_written("store", len(points))
    return Done()


@router.post("/retrieve", response_model=Points)
def retrieve(body: Ids, memory: MemoryDep) -> Points:
    """Points with these ids; unknown ids are left out."""
    found = memory.store.retrieve([str(i) for i in body.ids], with_vectors=body.with_vectors)
    return Points(points=[Point.of(p) for p in found])


@router.post("/delete", response_model=Done)
def delete(body: Ids, memory: MemoryDep, state: StateDep) -> Done:
    """Delete points by id; unknown ids are ignored."""
    with state.gate.writing():
        memory.store.delete([str(i) for i in body.ids])
    return Done()


@router.post("/delete-where", response_model=Done)
def delete_where(body: Filter, memory: MemoryDep, state: StateDep) -> Done:
    """Delete every point the filter matches (an empty filter: every point)."""
    where = field_filter(body.where)
    with state.gate.writing():
        memory.store.delete_where(where)
    return Done()


@router.post("/search", response_model=Hits)
def search(body: Search, memory: MemoryDep) -> Hits:
    """Nearest neighbours in one vector space, filtered."""
    _check_vector(memory, body.using, body.vector, "vector")
    hits = memory.store.search(
        body.vector,
        using=body.using,
        where=field_filter(body.where),
        limit=body.limit,
        offset=body.offset,
        with_vectors=body.with_vectors,
    )
    return Hits(hits=[Hit(point=Point.of(h.point), score=h.score) for h in hits])


@router.post("/scroll", response_model=Page)
def scroll(body: Scroll, memory: MemoryDep) -> Page:
    """A page of points in id order, and the offset of the next page."""
    points, next_offset = memory.store.scroll(
        field_filter(body.where),
        limit=body.limit,
        offset=str(body.offset) if body.offset is not None else None,
        with_vectors=body.with_vectors,
    )
    return Page(points=[Point.of(p) for p in points], next_offset=next_offset)


@router.post("/latest", response_model=Points)
def latest(body: Latest, memory: MemoryDep) -> Points:
    """Points ordered by timestamp, newest first unless `ascending`."""
    points = memory.store.latest(
        field_filter(body.where), limit=body.limit, ascending=body.ascending
    )
    return Points(points=[Point.of(p) for p in points])


@router.post("/count", response_model=Count)
def count(body: Filter, memory: MemoryDep) -> Count:
    """Exact number of points the filter matches."""
    return Count(count=memory.store.count(field_filter(body.where)))


@router.post("/facet", response_model=Counts)
def facet(body: Facet, memory: MemoryDep) -> Counts:
    """Counts of a keyword field's values, most frequent first."""
    return Counts(counts=memory.store.facet(body.key, field_filter(body.where), body.limit))


@router.get("/status", response_model=Status)
def status(memory: MemoryDep) -> Status:
    """Health and size of the collection."""
    current = memory.store.status()
    return Status(
        backend=current.backend,
        location=current.location,
        points=current.points,
        indexed_vectors=current.indexed_vectors,
        segments=current.segments,
        healthy=current.healthy,
        detail=current.detail,
        disk_bytes=current.disk_bytes,
        payload_indexes=list(current.payload_indexes),
    )


@router.post("/optimize", response_model=Done)
def optimize(memory: MemoryDep) -> Done:
    """Merge segments and build indexes now (blocking)."""
    memory.store.optimize()
    return Done()


def _check_vector(memory: Memory, name: str, vector: list[float], where: str) -> None:
    size = memory.embedder.dim if name == TEXT_VECTOR else store_spec(memory.embedder).market_dim
    if len(vector) != size:
        raise InvalidMemoryError(
            f"{where}: the {name} vector needs {size} values, not {len(vector)}"
        )
    if not all(math.isfinite(x) for x in vector):
        raise InvalidMemoryError(f"{where}: the {name} vector holds a non-finite value")
    if name == TEXT_VECTOR and not any(vector):
        raise InvalidMemoryError(f"{where}: a text vector of zeros has no direction (cosine)")


def _checked(memory: Memory, index: int, point: PointIn) -> StoredPoint:
    """A point validated as a memory, with its payload as the record makes it."""
    where = f"points.{index}"
    if TEXT_VECTOR not in point.vectors:
        raise InvalidMemoryError(f"{where}.vectors: the text vector is missing")
    for name, vector in point.vectors.items():
        _check_vector(memory, name, vector, f"{where}.vectors.{name}")
    try:
        record = MemoryRecord.from_payload(point.payload, point.vectors.get(MARKET_VECTOR))
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc, f"{where}.payload.")) from exc
    if record.id != str(point.id):
        raise InvalidMemoryError(f"{where}.id: {point.id} is not the id of the payload's key")
    vectors = {TEXT_VECTOR: point.vectors[TEXT_VECTOR]}
    if record.market is not None:
        vectors[MARKET_VECTOR] = list(record.market)
    return StoredPoint(id=record.id, payload=record.to_payload(), vectors=vectors)
