"""The HTTP API of the Mem0 platform, for mem0ai's `MemoryClient` (`host="http://service"`).

`MemoryClient(api_key=<an API key of this service>, host=<its URL>)` sends the key as
`Authorization: Token <key>`; roles and strategy limits apply as on every other route. The
mapping of entities and filters is `freqtrade_mem0.service.mem0_platform`.

Answered: ping, add, get, get_all, search, update, delete, delete_all, history. Memories are
stored verbatim (this service runs no LLM); `infer=True` is refused rather than ignored.
"""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request

from freqtrade_mem0.errors import NotFoundError, QuerySyntaxError
from freqtrade_mem0.query.nodes import ParsedQuery
from freqtrade_mem0.service import mem0_platform as platform
from freqtrade_mem0.service.auth import PrincipalDep
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS, error_responses

router = APIRouter(tags=["mem0 platform API"], responses=COMMON_ERRORS)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_TOP_K = 1000
ORG_ID = "freqtrade-mem0"
PROJECT_ID = "memories"
JsonBody = Annotated[dict[str, Any], Body()]


@router.get("/v1/ping/", summary="Mem0: check the API key")
def ping(principal: PrincipalDep) -> dict[str, Any]:
    """What `MemoryClient` asks at start; answers who the key is.

    The client insists on an organisation and a project: this service is one of each."""
    return {
        "status": "ok",
        "org_id": ORG_ID,
        "project_id": PROJECT_ID,
        "user_email": None,
        "role": principal.role.value,
        "strategies": sorted(principal.strategies) if principal.strategies else None,
    }


@router.post("/v3/memories/add/", responses=error_responses(422), summary="Mem0: add")
def add(
    body: JsonBody, memory: MemoryDep, state: StateDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Store the messages as one memory (verbatim). `agent_id` names the strategy."""
    only = sorted(principal.strategies) if principal.strategies else []
    record = platform.record_from_add(body, only[0] if len(only) == 1 else None)
    created = state.remember(memory, [record], "mem0")
    event = "ADD" if created else "NONE"  # the same memory again is one memory
    return {"results": [{"id": record.id, "memory": record.text, "event": event}]}


@router.get("/v1/memories/{memory_id}/", responses=error_responses(404), summary="Mem0: get")
def get(memory_id: UUID, memory: MemoryDep) -> dict[str, Any]:
    """One memory."""
    return platform.as_mem0(memory.get(str(memory_id)))


@router.post("/v3/memories/", responses=error_responses(400), summary="Mem0: get_all")
def get_all(
    request: Request,
    memory: MemoryDep,
    body: Annotated[dict[str, Any] | None, Body()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """The memories the filters match, a page at a time, in id order."""
    where = platform.to_query((body or {}).get("filters"))
    count = memory.count(where)
    start = (page - 1) * page_size
    records = list(islice(memory.iterate(where, with_vectors=False), start, start + page_size))

    def link(number: int) -> str:
        return str(request.url.include_query_params(page=number, page_size=page_size))

    return {
        "count": count,
        "next": link(page + 1) if start + page_size < count else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": [platform.as_mem0(record) for record in records],
    }


@router.post("/v3/memories/search/", responses=error_responses(400), summary="Mem0: search")
def search(body: JsonBody, memory: MemoryDep) -> dict[str, Any]:
    """Memories by meaning (`query`, plain text), within `filters`; `top_k`, `threshold`."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise QuerySyntaxError("query: a non-empty text is required")
    top_k = body.get("top_k", 10)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise QuerySyntaxError(f"top_k: a whole number from 1 to {MAX_TOP_K}")
    threshold = body.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float)
    ):
        raise QuerySyntaxError("threshold: a number is expected")
    # Plain text: Mem0's query is not this service's query language.
    hits = memory.search(
        ParsedQuery(where=None, text=query),
        limit=top_k,
        where=platform.to_query(body.get("filters")),
    )
    return {
        "results": [
            platform.as_mem0(hit.record, hit.score)
            for hit in hits
            if threshold is None or (hit.score is not None and hit.score >= threshold)
        ]
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@router.put(
    "/v1/memories/{memory_id}/", responses=error_responses(404, 422), summary="Mem0: update"
)
def update(memory_id: UUID, body: JsonBody, memory: MemoryDep, state: StateDep) -> dict[str, Any]:
    """Change a memory's text, metadata or timestamp; its id stays."""
    changed = platform.updated(memory.get(str(memory_id)), body)
    state.remember(memory, [changed], "mem0", announce=False)
    return platform.as_mem0(changed)


@router.delete("/v1/memories/{memory_id}/", responses=error_responses(404), summary="Mem0: delete")
def delete(memory_id: UUID, memory: MemoryDep, state: StateDep) -> dict[str, Any]:
    """Delete one memory."""
    with state.gate.writing():
        gone = memory.delete(str(memory_id))
    if not gone:
        raise NotFoundError(f"no memory with id {str(memory_id)!r}")
    return {"message": "Memory deleted successfully!"}


@router.delete("/v1/memories/", responses=error_responses(400), summary="Mem0: delete_all")
def delete_all(
    memory: MemoryDep,
    state: StateDep,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    app_id: str | None = None,
) -> dict[str, Any]:
    """Delete the memories of an entity (at least one of user_id, agent_id, run_id, app_id)."""
    params = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id, "app_id": app_id}
    where = platform.entity_filter(params)
    if where is None:
        raise QuerySyntaxError(
            "delete_all needs user_id, agent_id, run_id or app_id; DELETE /cleanup removes "
            "memories by query or age"
        )
    with state.gate.writing():
        deleted = memory.delete_where(where)
    return {"message": "Memories deleted successfully!", "deleted": deleted}


@router.get(
    "/v1/memories/{memory_id}/history/", responses=error_responses(404), summary="Mem0: history"
)
def history(memory_id: UUID, memory: MemoryDep) -> list[dict[str, Any]]:
    """The memory's ADD and UPDATE events, oldest first."""
    return platform.history_of(memory.get(str(memory_id)))
