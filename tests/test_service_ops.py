"""The memory service's operations over real HTTP: health, status, metrics, statistics, export,
import, cleanup, backups, optimising, its OpenAPI description, and its errors."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from freqtrade_mem0 import errors
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service.errors import status_for
from tests.service_helpers import (
    RunningService,
    admin_client,
    fresh_client,
    note,
    running,
    search_ids,
    seed,
    service_settings,
    snapshot,
)


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    """A client of the session's service, whose store and backups start empty."""
    with fresh_client(service) as http:
        yield http


def test_health_status_and_vectors(client: httpx.Client) -> None:
    seed(client)
    assert client.get("/health").json() == {"status": "ok"}
    status = client.get("/status").json()
    assert status["status"] == "ready"
    assert status["store"]["backend"] == "edge"
    assert status["pending_deliveries"] == 0
    assert status["version"]
    vectors = client.get("/vectors/status").json()
    assert vectors["points"] == 3
    assert vectors["healthy"] is True
    assert vectors["vectors"]["text"] == {"size": 384, "distance": "cosine", "source": "hashing-v1"}
    assert "strategy" in vectors["payload_indexes"]


def test_stats(client: httpx.Client) -> None:
    seed(client)
    stats = client.get("/stats").json()
    assert stats["total"] == 3
    assert stats["by_type"] == {"backtest": 2, "live": 1}
    assert stats["by_strategy"] == {"MyStrategy": 2, "Other": 1}
    assert stats["by_pair"] == {"ETH/BTC": 1}
    assert stats["first"].startswith("2024-03-01")
    assert stats["last"].startswith("2024-08-01")
    assert stats["disk_bytes"] > 0
    assert stats["memory_rss_bytes"] > 0
    assert client.get("/stats", params={"query": "type:live"}).json()["total"] == 1


def test_stats_forget_what_was_removed(client: httpx.Client) -> None:
    seed(client)
    client.delete("/cleanup", params={"query": "strategy:Other"})
    stats = client.get("/stats").json()
    assert stats["by_strategy"] == {"MyStrategy": 2}
    assert stats["by_pair"] == {}


SAMPLE = re.compile(r'^[a-z0-9_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    seed(client)
    client.get("/search", params={"query": "strategy:MyStrategy"})
    client.get("/search", params={"query": "strategy:("})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    for line in lines:
        assert line.startswith("# ") or SAMPLE.match(line), line
    text = response.text
    assert re.search(
        r'mem0_http_requests_total\{method="GET",route="/search",status="400"\} \d', text
    )
    assert (
        'mem0_http_request_duration_seconds_bucket{method="GET",route="/search",le="+Inf"}' in text
    )
    assert 'mem0_memories{type="backtest"} 2' in text
    assert 'mem0_memories{type="live"} 1' in text
    assert "mem0_store_points 3" in text
    assert "mem0_store_up 1" in text


def test_export_and_import_round_trip(client: httpx.Client) -> None:
    seed(client)
    exported = client.get("/export").text
    assert len(exported.splitlines()) == 3
    assert client.get("/export", params={"query": "strategy:Other"}).text.count("\n") == 1
    client.post("/v1/store/delete-where", json={"where": ""})
    imported = client.post("/import", content=exported).json()
    assert imported == {"imported": 3, "created": 3}
    assert client.post("/import", content=exported).json() == {"imported": 3, "created": 0}
    assert sorted(client.get("/export").text.splitlines()) == sorted(exported.splitlines())


def test_cleanup_by_age_and_query(client: httpx.Client) -> None:
    seed(client)
    dry = client.delete("/cleanup", params={"older_than": "2024-07-01", "dry_run": True}).json()
    assert (dry["removed"], dry["dry_run"]) == (2, True)
    assert dry["by_strategy"] == {"MyStrategy": 2}
    assert len(search_ids(client)) == 3
    done = client.delete(
        "/cleanup", params={"older_than": "2024-07-01", "query": "profit:<10"}
    ).json()
    assert done["removed"] == 1
    assert done["first"].startswith("2024-03-01")
    assert len(search_ids(client)) == 2
    # everything was stored just now: nothing is a day old by created_at
    assert (
        client.delete("/cleanup", params={"older_than": "1d", "by": "created_at"}).json()["removed"]
        == 0
    )


def test_backup_list_verify_restore(client: httpx.Client) -> None:
    seed(client)
    before = snapshot(client)
    made = client.post("/backup")
    assert made.status_code == 201
    info = made.json()
    assert info["count"] == 3
    assert [b["name"] for b in client.get("/backups").json()] == [info["name"]]
    assert client.get(f"/backups/{info['name']}").json() == info
    assert client.post(f"/backups/{info['name']}/verify").json() == info
    client.post("/memory", json=note("written after the backup"))
    restored = client.post(f"/backups/{info['name']}/restore", params={"replace": True}).json()
    assert restored == {"name": info["name"], "restored": 3, "replaced": True, "reembedded": False}
    assert snapshot(client) == before


def test_damaged_backup_is_refused_and_restores_nothing(
    client: httpx.Client, service: RunningService
) -> None:
    seed(client)
    name = client.post("/backup").json()["name"]
    data = service.settings.backup_dir / name / "memories.jsonl.gz"
    lines = gzip.decompress(data.read_bytes()).replace(b"+12.5%", b"+99.9%")
    data.write_bytes(gzip.compress(lines))
    client.post("/v1/store/delete-where", json={"where": "strategy:Other"})
    before = snapshot(client)
    verify = client.post(f"/backups/{name}/verify")
    assert verify.status_code == 422
    assert "checksum" in verify.json()["detail"]
    assert client.post(f"/backups/{name}/restore", params={"replace": True}).status_code == 422
    assert snapshot(client) == before


def test_optimize(client: httpx.Client) -> None:
    seed(client)
    result = client.post("/optimize").json()
    assert result["segments_after"] >= 1
    assert client.get("/vectors/status").json()["points"] == 3


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/memory",
        "/memory/batch",
        "/memory/{memory_id}",
        "/search",
        "/health",
        "/status",
        "/vectors/status",
        "/metrics",
        "/stats",
        "/backup",
        "/backups",
        "/backups/{name}/restore",
        "/export",
        "/import",
        "/cleanup",
        "/optimize",
        "/webhook/freqtrade",
        "/v1/store/upsert",
    ):
        assert path in paths
    assert "swagger" in client.get("/docs").text.lower()


def test_post_memory_documents_the_body_it_parses_itself(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/memory"]["post"]["requestBody"]
    assert body["required"] is True
    content = body["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/MemoryCreate"}
    assert "metadata" in schema["components"]["schemas"]["MemoryCreate"]["properties"]
    assert content["examples"]["backtest"]["value"]["metadata"]["strategy"] == "MyStrategy"


def test_store_work_runs_on_the_service_threads_which_start_again(tmp_path: Any) -> None:
    caller = contextvars.ContextVar("caller", default="none")
    with Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder()) as memory:
        state = create_app(service_settings(tmp_path), memory).state.mem0

        def where() -> tuple[str, str]:
            return threading.current_thread().name, caller.get()

        async def call() -> tuple[str, str]:
            caller.set("route")
            return await state.run(where)

        thread, seen = asyncio.run(call())
        assert thread.startswith("mem0-worker") and seen == "route"  # the caller's context
        state.stop_workers()
        assert asyncio.run(call())[0].startswith("mem0-worker")  # new threads after a stop
        state.stop_workers()


def test_a_store_held_elsewhere_answers_503_until_it_is_free(tmp_path: Any) -> None:
    holder = Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder())
    app = create_app(service_settings(tmp_path))
    app.state.mem0.memories.retry_seconds = 0.0
    try:
        with running(app) as url, admin_client(url) as http:
            assert http.get("/health").status_code == 200
            status = http.get("/status")
            assert status.status_code == 503
            assert "another process" in status.json()["problem"]
            busy = http.get("/search")
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "5"
            assert busy.json()["error"] == "StoreLockedError"
            holder.close()
            assert http.get("/search").status_code == 200
            assert http.get("/status").json()["status"] == "ready"
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.QuerySyntaxError("x"), 400),
        (errors.ConfigError("x"), 400),
        (errors.AuthenticationError("x"), 401),
        (errors.PermissionDeniedError("x"), 403),
        (errors.NotFoundError("x"), 404),
        (errors.IncompatibleStoreError("x"), 409),
        (errors.InvalidMemoryError("x"), 422),
        (errors.BackupError("x"), 422),
        (errors.StoreUnavailableError("x"), 503),
        (errors.StoreLockedError("x"), 503),
        (errors.Mem0Error("x"), 500),
    ],
)
def test_every_error_has_its_status(error: errors.Mem0Error, status: int) -> None:
    assert status_for(error) == status


def test_openapi_json_is_the_published_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "freqtrade-mem0"
    json.dumps(schema)  # serialisable as published
