"""Real HTTP servers on loopback ports for tests: the memory service, and a receiver that
records what is posted to it; and what the service's tests share."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from freqtrade_mem0.security.keys import KeyFile, generate_key
from freqtrade_mem0.service import ServiceSettings, create_app
from tests.factories import wire

# The admin key every test service accepts (its keys file holds only its hash).
ADMIN_KEY = generate_key()[1]
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}


def service_settings(root: Path, **overrides: Any) -> ServiceSettings:
    """Settings of a service on an embedded store under `root`, with the hashing embedder,
    accepting `ADMIN_KEY` (unless `insecure_no_auth=True`: no authentication, no keys file)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "store": str(root / "store"),
        "backup_dir": root / "backups",
        "embedder": "hashing",
        "log_level": "warning",
    }
    if not overrides.get("insecure_no_auth"):
        values["keys_file"] = root / "keys.json"
        keys = KeyFile(values["keys_file"])
        if not any(entry.name == "test-admin" for entry in keys.entries()):
            keys.create("test-admin", "admin", key=ADMIN_KEY)
    values.update(overrides)
    return ServiceSettings(**values)


def admin_client(url: str, **options: Any) -> httpx.Client:
    """An HTTP client of a test service with the admin key."""
    return httpx.Client(base_url=url, headers=ADMIN_HEADERS, **options)


@contextmanager
def running(app: FastAPI, **options: Any) -> Iterator[str]:
    """Serve an app with uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL.

    `options` go to `uvicorn.Config` (`ssl_certfile`, `ssl_keyfile`: an https URL)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options)
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        scheme = "https" if options.get("ssl_certfile") else "http"
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@dataclass(frozen=True)
class RunningService:
    """A memory service served on a loopback port."""

    url: str
    app: FastAPI
    settings: ServiceSettings


@contextmanager
def memory_service(root: Path, **overrides: Any) -> Iterator[RunningService]:
    """A memory service on an embedded store under `root`."""
    settings = service_settings(root, **overrides)
    app = create_app(settings)
    with running(app) as url:
        yield RunningService(url, app, settings)


@dataclass
class Receiver:
    """What a receiving server got (`headers` of every attempt, `received` bodies of those it
    accepted), and how it answers: the first `fail_first` attempts get 503."""

    fail_first: int = 0
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first `count` bodies received, waiting for them up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"received {len(self.received)} of {count} posts in {timeout}s")


@contextmanager
def receiver(fail_first: int = 0, status: int = 200) -> Iterator[Receiver]:
    """A plain HTTP server on 127.0.0.1 that records JSON POSTs (any path)."""
    state = Receiver(fail_first=fail_first, status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.attempts += 1
                state.headers.append(dict(self.headers.items()))
                failing = state.attempts <= state.fail_first
                if not failing and state.status < 300:
                    state.received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(503 if failing else state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def fresh_client(service: RunningService) -> Iterator[httpx.Client]:
    """A client of a running service whose store and backup folder are emptied first."""
    with admin_client(service.url, timeout=60) as http:
        http.post("/v1/store/delete-where", json={"where": ""}).raise_for_status()
        shutil.rmtree(service.settings.backup_dir, ignore_errors=True)
        service.settings.backup_dir.mkdir(parents=True)
        yield http


UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


def note(text: str, **metadata: Any) -> dict[str, Any]:
    """A memory in the wire format with its own text."""
    memory = wire(**metadata)
    memory["messages"] = [{"role": "system", "content": text}]
    return memory


SEED = [
    note("MyStrategy backtest H1: +12.5%", timestamp="2024-06-27T12:00:00Z"),
    note(
        "MyStrategy backtest Q1: +5%",
        timestamp="2024-03-01T00:00:00Z",
        metrics={"profit": 5.0, "trades": 12, "win_rate": 0.5},
    ),
    note(
        "Other live: a volume spike then a sharp reversal",
        type="live",
        strategy="Other",
        pair="ETH/BTC",
        timestamp="2024-08-01T00:00:00Z",
        metrics={"profit": 20.0},
    ),
]


def seed(client: httpx.Client, memories: list[dict[str, Any]] = SEED) -> list[str]:
    """Store memories through the batch route; returns their ids."""
    response = client.post("/memory/batch", json={"memories": memories})
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["memories"]]


def snapshot(client: httpx.Client) -> str:
    """Every stored memory, as the export sends it."""
    response = client.get("/export")
    assert response.status_code == 200
    return "\n".join(sorted(response.text.splitlines()))


def search_ids(client: httpx.Client, **params: Any) -> list[str]:
    """The ids a search finds."""
    response = client.get("/search", params=params)
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"]]
