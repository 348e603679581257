"""Memories in bulk: `/export` (streamed JSON lines), `/import`, `/cleanup`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from freqtrade_mem0.memory import Memory, record_from_line
from freqtrade_mem0.query import Node, and_, between
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS
from freqtrade_mem0.service.params import field_filter, parse_age

router = APIRouter(tags=["data"], responses=COMMON_ERRORS)

NDJSON = "application/x-ndjson"
FILTER_HELP = "a query of field terms (`strategy:MyStrategy AND type:backtest`)"


class Imported(BaseModel):
    """What an import wrote."""

    imported: int
    created: int


class Cleanup(BaseModel):
    """What a cleanup removed (or, with `dry_run`, would remove)."""

    removed: int
    dry_run: bool
    query: str
    older_than: datetime | None
    by: str
    by_type: dict[str, int]
    by_strategy: dict[str, int]
    first: str | None
    last: str | None


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}, "description": "JSONL"}},
    summary="Export memories",
)
def export(
    memory: MemoryDep,
    query: Annotated[str, Query(max_length=4000, description=FILTER_HELP)] = "",
) -> StreamingResponse:
    """Every memory (or a query's) as JSON lines in the wire format, streamed in id order."""
    where = field_filter(query)
    return StreamingResponse(
        _lines(memory, where),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="memories.jsonl"'},
    )


def _lines(memory: Memory, where: Node | None) -> Iterator[str]:
    for record in memory.iterate(where):
        yield json.dumps(record.to_public().model_dump(mode="json")) + "\n"


@router.post(
    "/import",
    response_model=Imported,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "JSON lines as `/export` writes them",
        }
    },
    summary="Import memories",
)
async def import_(request: Request, memory: MemoryDep, state: StateDep) -> Imported:
    """Store JSON lines (as `/export` writes them). Idempotent: memories keep their ids, so
    importing twice stores nothing new. One bad line rejects the whole body, naming the line."""
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"the body is not UTF-8 (byte {exc.start})") from None

    def write() -> Imported:
        records = [
            record_from_line(number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
        created = state.remember(memory, records, "import", announce=False)
        return Imported(imported=len(records), created=len(created))

    return await run_in_threadpool(write)


@router.delete("/cleanup", response_model=Cleanup, summary="Remove old memories")
def cleanup(
    memory: MemoryDep,
    state: StateDep,
    older_than: Annotated[
        str | None, Query(max_length=64, description="`30d`, `12h`, `2w` or an ISO date")
    ] = None,
    query: Annotated[str, Query(max_length=4000, description=FILTER_HELP)] = "",
    by: Annotated[
        Literal["timestamp", "created_at"],
        Query(description="the time compared: market time (default) or when it was stored"),
    ] = "timestamp",
    dry_run: bool = False,
) -> Cleanup:
    """Remove memories older than an age (by their `timestamp`, or by `created_at`), optionally
    only those a query matches; returns how many, by type and strategy, and their time span."""
    if older_than is None and not query.strip():
        raise HTTPException(400, "give older_than, a query, or both")
    cutoff = parse_age(older_than) if older_than is not None else None
    where = and_(field_filter(query), between(by, lt=cutoff) if cutoff else None)
    with state.gate.writing():
        summary = memory.stats(where)
        if summary["total"] and not dry_run:
            memory.delete_where(where)
    return Cleanup(
        removed=summary["total"],
        dry_run=dry_run,
        query=query,
        older_than=cutoff,
        by=by,
        by_type=summary["by_type"],
        by_strategy=summary["by_strategy"],
        first=summary["first"],
        last=summary["last"],
    )
