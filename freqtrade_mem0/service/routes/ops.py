"""Operations: liveness, readiness, the collection's state, metrics, statistics, optimising."""

from __future__ import annotations

import os
import resource
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from freqtrade_mem0 import __version__, fingerprint
from freqtrade_mem0.errors import Mem0Error
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS
from freqtrade_mem0.service.metrics import CONTENT_TYPE, Family, Sample, counter, gauge
from freqtrade_mem0.service.state import ServiceState

# `/health` is mounted without the guard every other router gets: probes need no credentials.
health_router = APIRouter(tags=["operations"])
router = APIRouter(tags=["operations"], responses=COMMON_ERRORS)


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class StoreSummary(BaseModel):
    """The store behind the service."""

    backend: str
    location: str
    healthy: bool
    points: int


class Status(BaseModel):
    """Readiness: the store, deliveries still pending, the version."""

    status: Literal["ready", "unavailable"]
    version: str
    uptime_seconds: float
    store: StoreSummary | None
    problem: str | None = None
    pending_deliveries: int
    notify: dict[str, dict[str, Any]]
    backups: dict[str, Any] | None = Field(
        default=None, description="the backup schedule and its latest outcome"
    )


class VectorSpace(BaseModel):
    """One named vector space of the collection."""

    size: int
    distance: str
    source: str


class VectorsStatus(BaseModel):
    """The collection: points, indexed vectors, segments, health."""

    backend: str
    location: str
    healthy: bool
    points: int
    indexed_vectors: int
    segments: int
    disk_bytes: int | None
    payload_indexes: list[str]
    detail: str
    vectors: dict[str, VectorSpace]


class Stats(BaseModel):
    """What the memories are: counts by type, kind, strategy, pair and mode, and their span."""

    query: str
    total: int
    by_type: dict[str, int]
    by_kind: dict[str, int]
    by_strategy: dict[str, int]
    by_pair: dict[str, int]
    by_mode: dict[str, int]
    first: str | None
    last: str | None
    points: int
    disk_bytes: int | None
    memory_rss_bytes: int | None


class Optimized(BaseModel):
    """What optimising did."""

    seconds: float
    segments_before: int
    segments_after: int
    indexed_vectors: int


@health_router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    """Answers while the process runs; touches nothing else."""
    return Health()


@router.get(
    "/status",
    response_model=Status,
    responses={503: {"model": Status, "description": "The store is unavailable"}},
    summary="Readiness",
)
def status(state: StateDep, request: Request) -> Any:
    """Ready when the store answers; also the deliveries still pending, and the version."""
    store: StoreSummary | None = None
    problem: str | None = None
    try:
        current = state.memories.get().status()
        store = StoreSummary(
            backend=current.backend,
            location=current.location,
            healthy=current.healthy,
            points=current.points,
        )
    except Mem0Error as exc:
        problem = str(exc)
    ready = store is not None and store.healthy
    body = Status(
        status="ready" if ready else "unavailable",
        version=__version__,
        uptime_seconds=round(time.time() - state.started, 3),
        store=store,
        problem=problem,
        pending_deliveries=state.notifier.pending,
        notify=state.notifier.status(),
        backups=request.app.state.mem0_backups.status(),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/vectors/status", response_model=VectorsStatus, summary="The collection")
def vectors_status(memory: MemoryDep) -> VectorsStatus:
    """Points, indexed vectors, segments, payload indexes and health of the collection."""
    current = memory.status()
    return VectorsStatus(
        backend=current.backend,
        location=current.location,
        healthy=current.healthy,
        points=current.points,
        indexed_vectors=current.indexed_vectors,
        segments=current.segments,
        disk_bytes=current.disk_bytes,
        payload_indexes=list(current.payload_indexes),
        detail=current.detail,
        vectors={
            "text": VectorSpace(
                size=memory.embedder.dim, distance="cosine", source=memory.embedder.name
            ),
            "market": VectorSpace(
                size=fingerprint.DIM,
                distance="euclid",
                source=f"market fingerprint v{fingerprint.FINGERPRINT_VERSION}",
            ),
        },
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
def metrics(state: StateDep, request: Request) -> Response:
    """Requests, latencies and errors by route; memories by type; store size; deliveries;
    the latest scheduled backup."""
    families = _families(state) + _backup_families(request.app.state.mem0_backups.status())
    text = state.metrics.render(families)
    return Response(text, media_type=CONTENT_TYPE)


@router.get("/stats", response_model=Stats, summary="Statistics")
def stats(
    memory: MemoryDep,
    query: Annotated[str, Query(max_length=4000, description="only memories it matches")] = "",
) -> Stats:
    """Counts by type, kind, strategy, pair and mode, the time span, disk and memory use."""
    summary = memory.stats(query)
    current = memory.status()
    return Stats(
        query=query,
        points=current.points,
        disk_bytes=current.disk_bytes,
        memory_rss_bytes=_rss_bytes(),
        **summary,
    )


@router.post("/optimize", response_model=Optimized, summary="Optimise the collection")
def optimize(memory: MemoryDep) -> Optimized:
    """Optimize the store now and answer when done. The embedded store keeps the service
    busy meanwhile, `/health` included (about 50 s at 100k memories on two cores)."""
    before = memory.status()
    started = time.perf_counter()
    memory.optimize()
    after = memory.status()
    return Optimized(
        seconds=round(time.perf_counter() - started, 3),
        segments_before=before.segments,
        segments_after=after.segments,
        indexed_vectors=after.indexed_vectors,
    )


def _families(state: ServiceState) -> list[Family]:
    families = [
        gauge("mem0_up", "1 while the service runs.", [Sample("mem0_up", 1)]),
        gauge(
            "mem0_build_info",
            "The running version.",
            [Sample("mem0_build_info", 1, {"version": __version__})],
        ),
        gauge(
            "mem0_uptime_seconds",
            "Seconds since the service started.",
            [Sample("mem0_uptime_seconds", round(time.time() - state.started, 3))],
        ),
    ]
    try:
        families += _store_families(state.memories.get())
        up = 1
    except Mem0Error:
        up = 0
    families.append(
        gauge("mem0_store_up", "1 when the store answers.", [Sample("mem0_store_up", up)])
    )
    notify = state.notifier.status()
    families.append(
        gauge(
            "mem0_notify_pending",
            "Events waiting for delivery, by target.",
            [Sample("mem0_notify_pending", s["pending"], {"target": t}) for t, s in notify.items()],
        )
    )
    for outcome in ("delivered", "failed", "dropped", "retries"):
        name = f"mem0_notify_{outcome}_total"
        families.append(
            counter(
                name,
                f"Events {outcome} (retries: attempts repeated), by target.",
                [Sample(name, s[outcome], {"target": t}) for t, s in notify.items()],
            )
        )
    return families


def _backup_families(schedule: dict[str, Any]) -> list[Family]:
    """The latest scheduled backup, for an alert on a schedule that stopped succeeding."""
    last = schedule["last"]
    if last is None:
        return []
    made = datetime.fromisoformat(last["at"]).timestamp()
    good = last["error"] is None  # a failed verification is an error too
    figures = {
        "mem0_backup_last_timestamp_seconds": ("When the latest scheduled backup ran.", made),
        "mem0_backup_last_success": ("1 when it was made (and verified, if asked).", int(good)),
        "mem0_backup_last_memories": ("Memories in it.", last["count"]),
        "mem0_backup_last_duration_seconds": (
            "Seconds to make and verify it.",
            last["backup_seconds"] + last["verify_seconds"],
        ),
    }
    return [gauge(name, text, [Sample(name, value)]) for name, (text, value) in figures.items()]


def _store_families(memory: Memory) -> list[Family]:
    current = memory.status()
    by_type = memory.store.facet("type")
    figures = {
        "points": ("Points in the collection.", current.points),
        "indexed_vectors": ("Vectors in the vector index.", current.indexed_vectors),
        "segments": ("Segments of the collection.", current.segments),
    }
    if current.disk_bytes is not None:
        figures["disk_bytes"] = ("Bytes the store uses on disk.", current.disk_bytes)
    families = [
        gauge(f"mem0_store_{key}", text, [Sample(f"mem0_store_{key}", value)])
        for key, (text, value) in figures.items()
    ]
    families.append(
        gauge(
            "mem0_memories",
            "Memories by type.",
            [Sample("mem0_memories", count, {"type": kind}) for kind, count in by_type.items()],
        )
    )
    return families


def _rss_bytes() -> int | None:
    """Resident memory of this process (peak resident memory where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
