"""ASGI middleware: request metrics, and the request body size limit."""

from __future__ import annotations

import json
import time
from collections.abc import Collection

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freqtrade_mem0.service.errors import error_name
from freqtrade_mem0.service.metrics import Metrics

UNMATCHED = "(unmatched)"


class ServiceMiddleware:
    """Counts and times every request by route template, and refuses bodies over the limit.

    A declared `Content-Length` over the limit is answered 413 before the body is read; a
    chunked body is counted as it arrives and stopped at the limit.

    Args:
        app: the application.
        metrics: where requests are counted.
        max_body_bytes: the limit for most routes.
        large_body_paths: paths that take `max_large_body_bytes` instead (bulk imports).
        max_large_body_bytes: their limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        large_body_paths: Collection[str] = (),
        max_large_body_bytes: int = 0,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.large_body_paths = frozenset(large_body_paths)
        self.max_large_body_bytes = max_large_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        path = scope.get("path", "")
        limit = self.max_large_body_bytes if path in self.large_body_paths else self.max_body_bytes

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _too_large(send_counted, limit)
                return
            await self.app(scope, _limited(receive, limit), send_counted)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(
                scope.get("method", ""), template, status, time.perf_counter() - started
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the application, whose error handler answers 413.
                raise HTTPException(413, f"the request body is larger than {limit} bytes")
        return message

    return wrapped


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": error_name(413), "detail": f"the request body is larger than {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
