"""`/search`: the query language over HTTP, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from freqtrade_mem0.models import MemoryPublic, MemoryType
from freqtrade_mem0.service.deps import MemoryDep, json_response
from freqtrade_mem0.service.errors import COMMON_ERRORS

router = APIRouter(tags=["search"], responses=COMMON_ERRORS)

MAX_LIMIT = 1000
MAX_OFFSET = 10_000
QUERY_HELP = (
    "Lucene-style: `strategy:MyStrategy`, `timestamp:[2024-01-01 TO 2024-06-27]`, "
    "`profit:>10.0`, `strategy:MyStrategy AND profit:>10.0`; free text is searched by meaning. "
    "Empty: every memory, newest first."
)


class SearchPage(BaseModel):
    """One page of results; `next_offset` is None on the last page."""

    query: str
    type: MemoryType | None
    limit: int
    offset: int
    next_offset: int | None
    results: list[MemoryPublic]


@router.get("/search", response_model=SearchPage, summary="Search memories")
def search(
    memory: MemoryDep,
    query: Annotated[str, Query(max_length=4000, description=QUERY_HELP)] = "",
    type: Annotated[MemoryType | None, Query(description="only memories of this type")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Search with the query language. Results carry a score when the query has free text
    (cosine similarity, higher is closer); field-only queries list the newest first."""
    hits = memory.search(query, limit=limit, offset=offset, type=type.value if type else None)
    page = SearchPage(
        query=query,
        type=type,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(hits) == limit else None,
        results=[hit.record.to_public(score=hit.score) for hit in hits],
    )
    return json_response(page)
