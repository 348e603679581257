"""Route dependencies, and the one place that decides what guards the routers."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from freqtrade_mem0.errors import PermissionDeniedError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.security.principal import Principal
from freqtrade_mem0.service.auth import authorize
from freqtrade_mem0.service.settings import ServiceSettings
from freqtrade_mem0.service.state import ServiceState
from freqtrade_mem0.stores.scoped import ScopedStore

M = TypeVar("M", bound=BaseModel)


# Both are coroutines so that FastAPI calls them on the event loop: a plain function would
# cost a thread-pool hop per request each, for an attribute read.
async def get_state(request: Request) -> ServiceState:
    """The service's shared state."""
    state: ServiceState = request.app.state.mem0
    return state


async def get_memory(request: Request) -> Memory:
    """The open memory (503 while the store is unavailable), limited to the strategies of a
    strategy-limited caller: every query of the route is then filtered, every write checked.

    Reads the state and the principal from the request rather than through dependencies of
    its own (each costs FastAPI a resolution per request): `authorize`, a dependency of every
    router that offers this one, has already run and stored the principal.
    """
    state: ServiceState = request.app.state.mem0
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route mounted without `authorize`: refused, never open
        raise PermissionDeniedError("this route is not guarded by authorize: refused")
    memory = state.memories.current
    if memory is None:
        memory = await run_in_threadpool(state.memories.get)  # opening a store blocks
    if principal.strategies is None:
        return memory
    scoped = ScopedStore(memory.store, principal.strategies)
    return Memory(scoped, memory.embedder, memory.settings)


StateDep = Annotated[ServiceState, Depends(get_state)]
MemoryDep = Annotated[Memory, Depends(get_memory)]


def router_dependencies(settings: ServiceSettings) -> list[Any]:
    """Dependencies every router except `/health` is mounted with: `authorize` (see
    `freqtrade_mem0.service.auth`), which checks each route against the route table."""
    return [Depends(authorize)]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """A model as a JSON answer, serialised once, by pydantic.

    For the busiest routes: FastAPI would validate a returned model against the route's
    `response_model` again, in a thread-pool hop of its own, before serialising it.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


async def read_json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body, parsed and validated in one pass by pydantic.

    For the busiest write route: FastAPI's own body handling decodes the JSON, then validates
    the objects, inside its dependency resolution. Like it, a body is JSON only when sent as
    such: a browser's cross-site form or `text/plain` post cannot set that type.

    Raises:
        RequestValidationError: the errors FastAPI's body parsing gives, located under `body`.
    """
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    if not _is_json(request.headers.get("content-type")):
        message = "the body must be sent with Content-Type: application/json"
        not_json = {"type": "model_attributes_type", "loc": ("body",), "msg": message}
        raise RequestValidationError([not_json])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def json_body_schema(model_name: str, examples: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its JSON body itself."""
    schema = {"$ref": f"#/components/schemas/{model_name}"}
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}
