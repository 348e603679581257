"""`/openapi.json` and `/docs` behind the same guard as the API (unless `public_docs`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI description."""
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def docs() -> HTMLResponse:
    """The interactive API page (its browser requests need credentials too)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="freqtrade-mem0")
