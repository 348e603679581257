"""The package's exceptions as HTTP answers, in one place.

Every error answer has the same body, `ErrorBody`: the error's name (the exception class, so a
client such as `HttpStore` can raise the same exception again), a message that says what to
fix, and for query errors the position. Tracebacks stay in the service's log.

| exception                                   | status |
|---------------------------------------------|--------|
| `QuerySyntaxError`, `ConfigError`, other operational errors, malformed JSON | 400 |
| `AuthenticationError` / `PermissionDeniedError` | 401 / 403 |
| `NotFoundError`                             | 404    |
| `IncompatibleStoreError`                    | 409    |
| `InvalidMemoryError`, `BackupError`, request validation | 422 |
| `TemporaryError` (store unavailable, locked) | 503 with `Retry-After` |
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from freqtrade_mem0.errors import (
    AuthenticationError,
    BackupError,
    IncompatibleStoreError,
    InvalidMemoryError,
    Mem0Error,
    NotFoundError,
    OperationalError,
    PermissionDeniedError,
    QuerySyntaxError,
    TemporaryError,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
_HINTS = {"timezone_aware": " (add an offset such as Z or +00:00)"}
# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[Mem0Error], int], ...] = (
    (NotFoundError, 404),
    (QuerySyntaxError, 400),
    (InvalidMemoryError, 422),
    (BackupError, 422),
    (IncompatibleStoreError, 409),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (OperationalError, 400),
    (TemporaryError, 503),
)


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    detail: str
    position: int | None = None
    query: str | None = None
    errors: list[FieldProblem] | None = None


def status_for(error: Mem0Error) -> int:
    """The HTTP status of one of the package's errors."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An error answer with the common body."""
    body = ErrorBody(error=error, detail=detail, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def _mem0_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Mem0Error)
    status = status_for(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    if status == 401:  # RFC 9110: a 401 names the scheme that would be accepted
        headers = {"WWW-Authenticate": 'Bearer realm="freqtrade-mem0"'}
    if status >= 500:
        logger.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, QuerySyntaxError):
        extra = {"position": exc.position, "query": exc.query}
    return error_response(status, type(exc).__name__, str(exc), headers, **extra)


# A body that is not a JSON object: FastAPI's parsing and `read_json_body` name it apart.
NOT_AN_OBJECT = ("model_attributes_type", "model_type")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        FieldProblem(
            loc=[p if isinstance(p, int) else str(p) for p in item.get("loc", ())],
            msg=str(item.get("msg", "")) + _HINTS.get(str(item.get("type")), ""),
            type=str(item.get("type", "")),
        )
        for item in exc.errors()
    ]
    if any(p.type == "json_invalid" for p in problems):
        return error_response(400, "MalformedJSON", "the body is not valid JSON")
    if [p.loc for p in problems] == [["body"]] and problems[0].type in NOT_AN_OBJECT:
        detail = "the body must be a JSON object, sent with Content-Type: application/json"
        return error_response(422, "ValidationError", detail, errors=problems)
    detail = "; ".join(f"{'.'.join(str(x) for x in p.loc)}: {p.msg}" for p in problems)
    return error_response(422, "ValidationError", detail or "invalid request", errors=problems)


def error_name(status: int) -> str:
    """The `error` of an answer that no exception of the package caused: `NotFound`."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = error_name(exc.status_code)
    return error_response(exc.status_code, name, str(exc.detail), dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalError", "internal error; the service log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with `ErrorBody` and the status above."""
    app.add_exception_handler(Mem0Error, _mem0_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting error answers."""
    return {
        status: {"model": ErrorBody, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


# The answers any route may give: bad input, too large a body, a store that is down.
COMMON_ERRORS = error_responses(400, 413, 422, 503)
