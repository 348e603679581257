"""The role matrix, walked: every route of the service x every kind of caller, allowed or
refused as `ROUTE_PERMISSIONS` and `ROLE_PERMISSIONS` say, including tokens that are expired,
not yet valid, signed with another key or not signed at all. The routes come from the
published application, so a route without a rule (or without a request here) fails."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from freqtrade_mem0 import backup
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import to_point
from freqtrade_mem0.security.crypto import new_key_spec
from freqtrade_mem0.security.principal import (
    ROLE_PERMISSIONS,
    ROUTE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    min_role,
)
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service.routes.memories import EXAMPLE
from tests.factories import trade, wire
from tests.security_helpers import BAD_TOKENS, LIMITED_TO, SECRET, Credentials, make_keys
from tests.service_helpers import ADMIN_HEADERS, UNKNOWN_ID, note, service_settings

# The roles of the issue, as the least role each permission needs.
ISSUE_MATRIX = {
    Permission.DOCS: Role.READER,
    Permission.READ: Role.READER,
    Permission.INSPECT: Role.READER,
    Permission.WRITE: Role.WRITER,
    Permission.DELETE: Role.ADMIN,
    Permission.CLEANUP: Role.ADMIN,
    Permission.BACKUP: Role.ADMIN,
    Permission.RESTORE: Role.ADMIN,
    Permission.OPTIMIZE: Role.ADMIN,
    Permission.ENCRYPTION: Role.ADMIN,
}
CALLERS = {  # who -> the principal it should be (None: refused with 401)
    "reader": Principal("r", Role.READER),
    "writer": Principal("w", Role.WRITER),
    "admin": Principal("a", Role.ADMIN),
    "limited-reader": Principal("lr", Role.READER, frozenset({LIMITED_TO})),
    "limited-writer": Principal("lw", Role.WRITER, frozenset({LIMITED_TO})),
    "limited-admin": Principal("la", Role.ADMIN, frozenset({LIMITED_TO})),
    "jwt-reader": Principal("jr", Role.READER),
    "jwt-admin": Principal("ja", Role.ADMIN),
    "anonymous": None,
    "revoked": None,
    **dict.fromkeys(BAD_TOKENS),
}
Ids = dict[str, str]
Request = Callable[[Ids], tuple[str, dict[str, Any]]]


def _point() -> dict[str, Any]:
    record = trade(1, strategy=LIMITED_TO, key="matrix-point")
    point = to_point(record, HashingEmbedder().embed([record.text])[0])
    return {"id": point.id, "payload": point.payload, "vectors": point.vectors}


def _fixed(path: str, **kwargs: Any) -> Request:
    return lambda ids: (path, kwargs)


# One request per route that succeeds for an allowed caller (and changes little).
REQUESTS: dict[tuple[str, str], Request] = {
    ("GET", "/health"): _fixed("/health"),
    ("GET", "/docs"): _fixed("/docs"),
    ("GET", "/openapi.json"): _fixed("/openapi.json"),
    ("GET", "/search"): _fixed("/search", params={"query": f"strategy:{LIMITED_TO}"}),
    ("GET", "/memory/{memory_id}"): lambda ids: (f"/memory/{ids['mine']}", {}),
    ("GET", "/export"): _fixed("/export"),
    ("GET", "/stats"): _fixed("/stats"),
    ("GET", "/status"): _fixed("/status"),
    ("GET", "/vectors/status"): _fixed("/vectors/status"),
    ("GET", "/metrics"): _fixed("/metrics"),
    ("POST", "/memory"): _fixed("/memory", json=EXAMPLE),
    ("POST", "/memory/batch"): _fixed("/memory/batch", json={"memories": [wire()]}),
    ("POST", "/import"): _fixed("/import", content=json.dumps(note("imported")) + "\n"),
    ("POST", "/webhook/freqtrade"): _fixed(
        "/webhook/freqtrade", json={"type": "exit", "strategy": LIMITED_TO}
    ),
    ("DELETE", "/memory/{memory_id}"): lambda ids: (f"/memory/{ids['mine']}", {}),
    ("DELETE", "/cleanup"): _fixed(
        "/cleanup", params={"query": f"strategy:{LIMITED_TO}", "dry_run": "true"}
    ),
    ("POST", "/backup"): _fixed("/backup"),
    ("GET", "/backups"): _fixed("/backups"),
    ("GET", "/backups/{name}"): _fixed("/backups/matrix"),
    ("POST", "/backups/{name}/verify"): _fixed("/backups/matrix/verify"),
    ("POST", "/backups/{name}/restore"): _fixed("/backups/matrix/restore"),
    ("POST", "/optimize"): _fixed("/optimize"),
    ("GET", "/encryption/status"): _fixed("/encryption/status"),
    ("POST", "/encryption/rotate"): _fixed("/encryption/rotate"),
    ("GET", "/v1/store/spec"): _fixed("/v1/store/spec"),
    ("GET", "/v1/store/status"): _fixed("/v1/store/status"),
    ("POST", "/v1/store/retrieve"): lambda ids: (
        "/v1/store/retrieve",
        {"json": {"ids": [ids["mine"]]}},
    ),
    ("POST", "/v1/store/search"): _fixed(
        "/v1/store/search", json={"vector": [1.0] * 384, "using": "text"}
    ),
    ("POST", "/v1/store/scroll"): _fixed("/v1/store/scroll", json={}),
    ("POST", "/v1/store/latest"): _fixed("/v1/store/latest", json={}),
    ("POST", "/v1/store/count"): _fixed("/v1/store/count", json={}),
    ("POST", "/v1/store/facet"): _fixed("/v1/store/facet", json={"key": "strategy"}),
    ("POST", "/v1/store/upsert"): _fixed("/v1/store/upsert", json={"points": [_point()]}),
    ("POST", "/v1/store/delete"): _fixed("/v1/store/delete", json={"ids": [UNKNOWN_ID]}),
    ("POST", "/v1/store/delete-where"): _fixed(
        "/v1/store/delete-where", json={"where": "pair:NONE/X"}
    ),
    ("POST", "/v1/store/optimize"): _fixed("/v1/store/optimize"),
    ("GET", "/v1/ping/"): _fixed("/v1/ping/"),
    ("POST", "/v3/memories/add/"): _fixed(
        "/v3/memories/add/",
        json={"messages": [{"role": "user", "content": "a note"}], "agent_id": LIMITED_TO},
    ),
    ("GET", "/v1/memories/{memory_id}/"): lambda ids: (f"/v1/memories/{ids['mine']}/", {}),
    ("POST", "/v3/memories/"): _fixed("/v3/memories/", json={}),
    ("POST", "/v3/memories/search/"): _fixed("/v3/memories/search/", json={"query": "quiet"}),
    ("PUT", "/v1/memories/{memory_id}/"): lambda ids: (
        f"/v1/memories/{ids['mine']}/",
        {"json": {"text": "mine: a quieter market"}},
    ),
    ("DELETE", "/v1/memories/{memory_id}/"): lambda ids: (f"/v1/memories/{ids['mine']}/", {}),
    ("DELETE", "/v1/memories/"): _fixed("/v1/memories/", params={"agent_id": LIMITED_TO}),
    ("GET", "/v1/memories/{memory_id}/history/"): lambda ids: (
        f"/v1/memories/{ids['mine']}/history/",
        {},
    ),
}
UNPUBLISHED = {("GET", "/docs"), ("GET", "/openapi.json")}  # guarded, kept out of the schema


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, Credentials]:
    root = tmp_path_factory.mktemp("matrix")
    made = make_keys(root / "keys.json")
    settings = service_settings(root, jwt_secret=SECRET, encryption_keys=new_key_spec("k1"))
    return create_app(settings), made


@pytest.fixture(scope="module")
def app(credentials: tuple[FastAPI, Credentials]) -> FastAPI:
    return credentials[0]


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        state = app.state.mem0
        backup.create_backup(state.memories.get(), state.settings.backup_dir, name="matrix")
        yield http


def reseed(client: TestClient) -> Ids:
    """Empty the store, store one memory of the limited strategy and one of another."""
    assert client.post("/v1/store/delete-where", json={}, headers=ADMIN_HEADERS).status_code == 200
    mine = note("mine: a quiet market", strategy=LIMITED_TO, key="mine")
    other = note("other: a volume spike", strategy="Other", key="other")
    answer = client.post("/memory/batch", json={"memories": [mine, other]}, headers=ADMIN_HEADERS)
    stored = answer.json()["memories"]
    return {"mine": stored[0]["id"], "other": stored[1]["id"]}


def published_routes(app: FastAPI) -> set[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() for m in ops} | UNPUBLISHED


def test_every_published_route_has_a_rule_and_a_request(app: FastAPI) -> None:
    routes = published_routes(app)
    assert routes - set(ROUTE_PERMISSIONS) == set(), "routes without an access rule"
    assert routes - set(REQUESTS) == set(), "routes without a request in this test"
    assert set(ROUTE_PERMISSIONS) - routes == set(), "rules for routes that do not exist"


def test_the_roles_are_those_of_the_issue() -> None:
    assert {p: min_role(p) for p in Permission} == ISSUE_MATRIX
    assert ROLE_PERMISSIONS[Role.READER] < ROLE_PERMISSIONS[Role.WRITER]
    assert ROLE_PERMISSIONS[Role.WRITER] < ROLE_PERMISSIONS[Role.ADMIN]


def wait_for_rotation(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/encryption/status", headers=ADMIN_HEADERS).json()["rotation"]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


CASES = [(route, who) for route in sorted(REQUESTS) for who in CALLERS]


@pytest.mark.parametrize(("route", "who"), CASES, ids=[f"{m} {p} as {w}" for (m, p), w in CASES])
def test_matrix(
    client: TestClient,
    credentials: tuple[FastAPI, Credentials],
    route: tuple[str, str],
    who: str,
) -> None:
    ids = reseed(client)
    path, kwargs = REQUESTS[route](ids)
    response = client.request(route[0], path, headers=credentials[1].headers(who), **kwargs)
    permission = ROUTE_PERMISSIONS[route]
    principal = CALLERS[who]
    if permission is None:
        assert response.status_code == 200
    elif principal is None:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "AuthenticationError"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    elif principal.allows(permission):
        assert response.status_code in (200, 201, 202), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "PermissionDeniedError"
    if route == ("POST", "/encryption/rotate"):
        wait_for_rotation(client)
