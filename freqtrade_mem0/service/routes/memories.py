"""`/memory`: store one memory or a batch, read one, delete one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from freqtrade_mem0.errors import NotFoundError
from freqtrade_mem0.models import MemoryCreate, MemoryPublic, MemoryRecord
from freqtrade_mem0.service.deps import (
    MemoryDep,
    StateDep,
    json_body_schema,
    json_response,
    read_json_body,
)
from freqtrade_mem0.service.errors import COMMON_ERRORS, error_responses

router = APIRouter(tags=["memories"], responses=COMMON_ERRORS)

MAX_BATCH = 1000
EXAMPLE = {
    "messages": [{"role": "system", "content": "MyStrategy backtest 2024-01-01..06-27: +12.5%"}],
    "metadata": {
        "type": "backtest",
        "strategy": "MyStrategy",
        "timestamp": "2024-06-27T00:00:00Z",
        "metrics": {"profit": 12.5, "trades": 40, "win_rate": 0.6},
    },
}


class MemoryBatch(BaseModel):
    """Several memories in the wire format."""

    memories: list[MemoryCreate] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    """The memories as stored, and which of them were new."""

    count: int
    created: list[str]
    memories: list[MemoryPublic]


class Deleted(BaseModel):
    """The id of a deleted memory."""

    deleted: str


@router.post(
    "/memory",
    status_code=201,
    response_model=MemoryPublic,
    responses={200: {"model": MemoryPublic, "description": "Replaced the memory with this id"}},
    summary="Store a memory",
    openapi_extra=json_body_schema("MemoryCreate", {"backtest": {"value": EXAMPLE}}),
)
async def create_memory(request: Request, memory: MemoryDep, state: StateDep) -> Response:
    """Store a memory; its id derives from `metadata.key`, or from its content without one,
    so storing the same memory again replaces it (200) instead of adding another (201)."""
    record = (await read_json_body(request, MemoryCreate)).to_record()
    created = await state.run(state.remember, memory, [record], "memory")
    return json_response(record.to_public(), 201 if created else 200)


@router.post("/memory/batch", response_model=BatchResult, summary="Store memories")
async def create_memories(memory: MemoryDep, state: StateDep, body: MemoryBatch) -> BatchResult:
    """Store up to 1000 memories in one request."""

    def store() -> tuple[list[MemoryRecord], list[MemoryRecord]]:
        records = [item.to_record() for item in body.memories]
        return records, state.remember(memory, records, "memory")

    records, created = await state.run(store)  # off the event loop: a batch is a lot of work
    return BatchResult(
        count=len(records),
        created=[r.id for r in created],
        memories=[r.to_public() for r in records],
    )


@router.get(
    "/memory/{memory_id}",
    response_model=MemoryPublic,
    responses=error_responses(404),
    summary="Read a memory",
)
def read_memory(memory_id: UUID, memory: MemoryDep) -> Response:
    """The memory with this id."""
    return json_response(memory.get(str(memory_id)).to_public())


@router.delete(
    "/memory/{memory_id}",
    response_model=Deleted,
    responses=error_responses(404),
    summary="Delete a memory",
)
def delete_memory(memory_id: UUID, memory: MemoryDep, state: StateDep) -> Deleted:
    """Delete the memory with this id."""
    with state.gate.writing():
        gone = memory.delete(str(memory_id))
    if not gone:
        raise NotFoundError(f"no memory with id {str(memory_id)!r}")
    return Deleted(deleted=gone[0])
