"""The memory service over real HTTP (uvicorn on a loopback port, an embedded store behind
it): storing, reading and searching memories, and refusing bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import wire
from tests.service_helpers import (
    SEED,
    UNKNOWN_ID,
    RunningService,
    fresh_client,
    note,
    search_ids,
    seed,
    snapshot,
)


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    """A client of the session's service, whose store and backups start empty."""
    with fresh_client(service) as http:
        yield http


def test_post_memory_returns_it_with_its_id_and_is_idempotent(client: httpx.Client) -> None:
    first = client.post("/memory", json=wire())
    assert first.status_code == 201
    stored = first.json()
    assert stored["metadata"]["metrics"] == {"profit": 12.5, "trades": 40.0, "win_rate": 0.6}
    assert client.get(f"/memory/{stored['id']}").json() == stored
    again = client.post("/memory", json=wire())
    assert again.status_code == 200  # the same memory replaced, not a second one
    assert again.json()["id"] == stored["id"]
    assert client.post("/v1/store/count", json={}).json() == {"count": 1}


def test_batch_reports_which_memories_are_new(client: httpx.Client) -> None:
    first = client.post("/memory/batch", json={"memories": [*SEED, SEED[0]]}).json()
    assert first["count"] == 4
    assert len(first["created"]) == 3
    again = client.post("/memory/batch", json={"memories": SEED}).json()
    assert again["created"] == []


def test_delete_memory(client: httpx.Client) -> None:
    ids = seed(client)
    assert client.delete(f"/memory/{ids[0]}").json() == {"deleted": ids[0]}
    assert client.get(f"/memory/{ids[0]}").status_code == 404
    assert client.delete(f"/memory/{ids[0]}").status_code == 404
    assert sorted(search_ids(client)) == sorted(ids[1:])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("strategy:MyStrategy", [0, 1]),
        ("timestamp:[2024-01-01 TO 2024-06-27]", [0, 1]),
        ("profit:>10.0", [0, 2]),
        ("strategy:MyStrategy AND profit:>10.0", [0]),
        ("pair:ETH/BTC OR profit:<6", [1, 2]),
    ],
)
def test_search_with_the_query_language(
    client: httpx.Client, query: str, expected: list[int]
) -> None:
    ids = seed(client)
    assert sorted(search_ids(client, query=query)) == sorted(ids[i] for i in expected)


def test_free_text_search_has_scores(client: httpx.Client) -> None:
    ids = seed(client)
    results = client.get("/search", params={"query": "sharp reversal after a volume spike"}).json()
    assert results["results"][0]["id"] == ids[2]
    scores = [hit["score"] for hit in results["results"]]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)


def test_search_pages_and_type(client: httpx.Client) -> None:
    seed(client, [note(f"note {i}", timestamp=f"2024-01-0{i + 1}T00:00:00Z") for i in range(5)])
    pages, offset = [], 0
    while offset is not None:
        page = client.get("/search", params={"limit": 2, "offset": offset}).json()
        pages.append(page["results"])
        offset = page["next_offset"]
    seen = [hit["metadata"]["timestamp"] for page in pages for hit in page]
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)  # newest first without free text
    assert search_ids(client, type="live") == []
    assert len(search_ids(client, type="backtest")) == 5


BIG = b'{"messages": [{"role": "system", "content": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
BAD_INPUT = [
    ("post", "/memory", {"content": b"{bad", "headers": {"content-type": "application/json"}}, 400),
    ("post", "/memory", {"json": wire(metrics={"profit": "lots"})}, 422),
    ("post", "/memory", {"json": wire(timestamp="2024-06-27T12:00:00")}, 422),
    ("post", "/memory", {"json": wire(type="futures")}, 422),
    ("post", "/memory", {"json": [wire()]}, 422),
    ("post", "/memory", {"content": b"", "headers": {"content-type": "application/json"}}, 422),
    ("post", "/memory", {"content": BIG, "headers": {"content-type": "application/json"}}, 413),
    ("post", "/memory/batch", {"json": {"memories": []}}, 422),
    ("get", "/search", {"params": {"query": "strategy:(MyStrategy"}}, 400),
    ("get", "/search", {"params": {"query": "strateggy:MyStrategy"}}, 400),
    ("get", "/search", {"params": {"query": "profit:>ten"}}, 400),
    ("get", "/search", {"params": {"limit": 0}}, 422),
    ("get", f"/memory/{UNKNOWN_ID}", {}, 404),
    ("delete", f"/memory/{UNKNOWN_ID}", {}, 404),
    ("get", "/memory/not-an-id", {}, 422),
    ("post", "/import", {"content": b'{"messages": []}\n'}, 422),
    ("post", "/import", {"content": b"\xff\xfe"}, 400),
    ("delete", "/cleanup", {}, 400),
    ("delete", "/cleanup", {"params": {"older_than": "soon"}}, 400),
    ("delete", "/cleanup", {"params": {"older_than": "999999w"}}, 400),
    ("delete", "/cleanup", {"params": {"query": "old stuff"}}, 400),
    ("get", "/export", {"params": {"query": "strategy:"}}, 400),
    ("post", "/backups/nope/restore", {}, 404),
    ("post", "/backups/..%2F..%2Fetc/restore", {}, 404),
    ("post", "/webhook/freqtrade", {"json": {"type": "exit_fill", "pair": "ADA/BTC"}}, 422),
    ("post", "/v1/store/upsert", {"json": {"points": [{"id": UNKNOWN_ID, "payload": {}}]}}, 422),
    ("post", "/v1/store/count", {"json": {"where": "profit:>"}}, 400),
    ("get", "/nowhere", {}, 404),
    ("put", "/memory", {}, 405),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_INPUT)
def test_bad_input_gets_a_4xx_with_a_message_and_changes_nothing(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    seed(client)
    before = snapshot(client)
    response = client.request(method.upper(), path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail"}
    assert body["detail"]
    assert "Traceback" not in response.text
    assert snapshot(client) == before


def test_query_errors_carry_the_position(client: httpx.Client) -> None:
    body = client.get("/search", params={"query": "strategy:MyStrategy AND profit:>ten"}).json()
    assert body["error"] == "QuerySyntaxError"
    assert body["position"] == 32  # the "ten"
    assert body["query"] == "strategy:MyStrategy AND profit:>ten"


def test_validation_errors_name_the_field(client: httpx.Client) -> None:
    body = client.post("/memory", json=wire(timestamp="2024-06-27T12:00:00")).json()
    assert "metadata.timestamp" in body["detail"]
    assert "offset" in body["detail"]  # says how to fix it


@pytest.mark.parametrize("path", ["/memory", "/memory/batch"])
def test_a_body_that_is_not_an_object_says_so(client: httpx.Client, path: str) -> None:
    for body in ([wire()], "a memory", 3):
        answer = client.post(path, json=body)
        assert answer.status_code == 422
        assert answer.json()["detail"] == (
            "the body must be a JSON object, sent with Content-Type: application/json"
        )
    empty = client.post(path, content=b"", headers={"content-type": "application/json"})
    assert empty.status_code == 422
    assert empty.json()["detail"] == "body: Field required"


@pytest.mark.parametrize("path", ["/memory", "/memory/batch"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_refused(
    client: httpx.Client, path: str, content_type: str | None
) -> None:
    # What a browser's cross-site form or text/plain post looks like: never parsed as JSON.
    body = {"memories": [wire()]} if path.endswith("batch") else wire()
    headers = {"content-type": content_type} if content_type else {}
    before = snapshot(client)
    answer = client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert answer.status_code == 422
    assert "Content-Type: application/json" in answer.json()["detail"]
    assert snapshot(client) == before
    vendor = {"content-type": "application/vnd.mem0+json; charset=utf-8"}
    assert client.post(path, content=json.dumps(body).encode(), headers=vendor).is_success


def test_chunked_body_over_the_limit_is_refused(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * (1024 * 1024)

    response = client.post(
        "/memory", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
