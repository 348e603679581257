"""The `http` store on a real service: what the contract suite does not cover (it runs the
contract itself over `conftest.BACKENDS`)."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from freqtrade_mem0.cli import cli
from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import (
    IncompatibleStoreError,
    InvalidMemoryError,
    QuerySyntaxError,
    StoreUnavailableError,
)
from freqtrade_mem0.memory import Memory, store_spec, to_point
from freqtrade_mem0.stores import StoredPoint
from freqtrade_mem0.stores.http import HttpStore
from tests.factories import trade
from tests.service_helpers import ADMIN_HEADERS, ADMIN_KEY, RunningService


@pytest.fixture
def remote(service: RunningService) -> Iterator[Memory]:
    settings = Settings(api_key=ADMIN_KEY)
    with Memory.open(service.url, settings=settings, embedder=HashingEmbedder()) as memory:
        memory.store.delete_where(None)
        yield memory


def good_point(i: int = 1) -> StoredPoint:
    record = trade(i)
    return to_point(record, HashingEmbedder().embed([record.text])[0])


def spoiled(point: StoredPoint, **changes: Any) -> StoredPoint:
    fields = {"id": point.id, "payload": point.payload, "vectors": point.vectors, **changes}
    return StoredPoint(**fields)


BAD_POINTS = [
    ("id", lambda p: spoiled(p, id=good_point(2).id), "not the id of the payload"),
    ("size", lambda p: spoiled(p, vectors={"text": [1.0] * 10}), "needs 384 values"),
    ("zeros", lambda p: spoiled(p, vectors={"text": [0.0] * 384}), "no direction"),
    ("name", lambda p: spoiled(p, vectors={**p.vectors, "image": [1.0]}), "unknown vectors"),
    ("missing", lambda p: spoiled(p, vectors={}), "text vector is missing"),
    ("payload", lambda p: spoiled(p, payload={**p.payload, "strategy": ""}), "strategy"),
]


@pytest.mark.parametrize(("case", "spoil", "message"), BAD_POINTS, ids=[c[0] for c in BAD_POINTS])
def test_the_service_refuses_malformed_points(
    remote: Memory, case: str, spoil: Any, message: str
) -> None:
    with pytest.raises(InvalidMemoryError, match=message):
        remote.store.upsert([good_point(3), spoil(good_point())])
    assert remote.count() == 0  # the good point of the request is not written either


def test_non_finite_vectors_are_refused(service: RunningService, remote: Memory) -> None:
    point = good_point()
    body = {
        "points": [
            {"id": point.id, "payload": point.payload, "vectors": {"text": [math.nan] * 384}}
        ]
    }
    answer = httpx.post(
        service.url + "/v1/store/upsert",
        content=json.dumps(body),  # NaN: Python's json writes it, strict JSON has no such thing
        headers={"content-type": "application/json", **ADMIN_HEADERS},
    )
    assert answer.status_code == 422
    assert "non-finite" in answer.json()["detail"]
    assert remote.count() == 0


def test_another_embedder_is_refused(service: RunningService) -> None:
    with pytest.raises(IncompatibleStoreError, match="text_dim=384"):
        Memory.open(
            service.url, settings=Settings(api_key=ADMIN_KEY), embedder=HashingEmbedder(dim=64)
        )


def test_an_unreachable_service_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        Memory.open(f"http://127.0.0.1:{port}", embedder=HashingEmbedder())


def test_errors_come_back_as_the_package_s_own(remote: Memory) -> None:
    store = remote.store
    assert isinstance(store, HttpStore)
    with pytest.raises(QuerySyntaxError) as raised:
        store._call("POST", "/count", {"where": "strategy:Alpha AND profit:>"})
    assert raised.value.position is not None


def test_a_busy_service_is_unavailable_not_an_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"error": "StoreLockedError", "detail": "held by another process"}
        return httpx.Response(503, json=body, headers={"Retry-After": "5"})

    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://mem0")
    spec = store_spec(HashingEmbedder())
    with pytest.raises(StoreUnavailableError, match="held by another process"):
        HttpStore("http://mem0", spec, Settings(), client=client)


def test_the_command_line_on_the_service(service: RunningService, remote: Memory) -> None:
    runner = CliRunner(env={"MEM0_API_KEY": ADMIN_KEY})
    base = ["--store", service.url, "--embedder", "hashing"]
    added = runner.invoke(
        cli, [*base, "add", "volume spike then reversal", "--strategy", "S", "-m", "profit=2.5"]
    )
    assert added.exit_code == 0, added.output
    found = runner.invoke(cli, [*base, "search", "strategy:S AND profit:>2", "--json"])
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.output)
    assert hit["metadata"]["metrics"] == {"profit": 2.5}
    stats = runner.invoke(cli, [*base, "stats", "--json"])
    assert json.loads(stats.output)["total"] == 1
    assert runner.invoke(cli, [*base, "get", hit["id"][:8]]).exit_code == 3  # ids are whole
    optimised = runner.invoke(cli, [*base, "optimize"])
    assert optimised.exit_code == 0 and "optimised in" in optimised.output, optimised.output
    assert runner.invoke(cli, [*base, "delete", hit["id"]]).exit_code == 0
    assert remote.count() == 0


def test_mem0_url_points_a_process_at_the_service(
    service: RunningService, remote: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEM0_URL", service.url)
    monkeypatch.setenv("MEM0_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("MEM0_EMBEDDER", "hashing")
    with Memory.open() as memory:
        assert memory.store.backend == "http"
        memory.remember(trade(5))
    assert remote.get(trade(5).id) == trade(5)
