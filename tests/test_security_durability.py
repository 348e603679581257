"""Durability: the service killed with SIGKILL in the middle of a write burst, then restarted.

The service runs as its own process (`python -m freqtrade_mem0 serve`) on an embedded store.
Writers send single memories over HTTP and note which ones were acknowledged; a bot-like
client delivers through its durable outbox. After `kill -9` and a restart on the same store,
every acknowledged write is there, nothing is doubled, and the outbox (also restarted, from
its journal) delivers everything it had not had acknowledged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.outbox import DeliveryThread, Outbox
from freqtrade_mem0.security.keys import KeyFile, generate_key
from tests.factories import trade
from tests.service_helpers import note

pytestmark = pytest.mark.slow

ADMIN = generate_key()[1]
HEADERS = {"X-API-Key": ADMIN}
OUTBOX_MEMORIES = 240
WRITERS = 3
BURST = " OR ".join(f"strategy:Burst{n}" for n in range(WRITERS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service_process(root: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The service in its own process on `root/store`; killed (if still alive) at the end."""
    command = [
        sys.executable,
        "-m",
        "freqtrade_mem0",
        "--embedder",
        "hashing",
        "serve",
        "--store",
        str(root / "store"),
        "--backup-dir",
        str(root / "backups"),
        "--keys-file",
        str(root / "keys.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM0_", "QDRANT_"))}
    process = subprocess.Popen(command, env={**env, "MEM0_TELEMETRY": "False"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start (exit {process.poll()})")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


class Writer(threading.Thread):
    """Sends distinct memories one by one until the service stops answering."""

    def __init__(self, url: str, number: int) -> None:
        super().__init__(name=f"writer-{number}", daemon=True)
        self.url = url
        self.number = number
        self.acknowledged: list[str] = []
        self.sent = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=HEADERS, timeout=10) as http:
            for i in range(100_000):
                body = note(
                    f"writer {self.number} memory {i}",
                    strategy=f"Burst{self.number}",
                    timestamp=f"2024-01-01T00:00:00.{i:06d}Z",
                )
                self.sent += 1
                try:
                    answer = http.post("/memory", json=body)
                except httpx.TransportError:
                    return  # killed mid-request: this one was not acknowledged
                if answer.status_code != 201:
                    return
                self.acknowledged.append(answer.json()["id"])


def outbox_for(journal: Path, memory: Memory) -> Outbox:
    def deliver(batch: list[MemoryRecord]) -> None:
        memory.remember(batch)

    return Outbox(deliver, path=journal, batch_size=8, retry_max_seconds=0.2)


def test_kill_9_mid_burst_loses_no_acknowledged_write_and_doubles_none(tmp_path: Path) -> None:
    KeyFile(tmp_path / "keys.json").create("admin", "admin", key=ADMIN)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    journal = tmp_path / "outbox"
    records = [trade(i) for i in range(OUTBOX_MEMORIES)]

    with service_process(tmp_path, port) as process:
        remote = Memory.open(url, settings=Settings(api_key=ADMIN), embedder=HashingEmbedder())
        outbox = outbox_for(journal, remote)
        delivery = DeliveryThread(outbox, interval=0.01)
        delivery.start()
        writers = [Writer(url, n) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        outbox.put_many(records)
        deadline = time.monotonic() + 60
        while sum(len(w.acknowledged) for w in writers) < 150 or outbox.delivered == 0:
            assert time.monotonic() < deadline, "the burst did not get going"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        for writer in writers:
            writer.join(15)
        delivery.stop()
        remote.close()
    acknowledged = [memory_id for w in writers for memory_id in w.acknowledged]
    sent = sum(w.sent for w in writers)
    assert outbox.pending > 0, "the kill came after the outbox had delivered everything"

    # The bot restarts too: a new outbox on the same journal knows what is still owed.
    with service_process(tmp_path, port), httpx.Client(base_url=url, headers=HEADERS) as http:
        for memory_id in acknowledged:
            answer = http.get(f"/memory/{memory_id}")
            assert answer.status_code == 200, f"acknowledged write {memory_id} was lost"
        burst_count = http.get("/stats", params={"query": BURST}).json()["total"]
        assert len(acknowledged) <= burst_count <= sent  # the one in flight may have landed

        with Memory.open(url, settings=Settings(api_key=ADMIN), embedder=HashingEmbedder()) as bot:
            restarted = outbox_for(journal, bot)
            assert restarted.pending > 0
            deadline = time.monotonic() + 60
            while not restarted.flush(force=True):
                assert time.monotonic() < deadline, "the outbox did not drain"
                time.sleep(0.1)
            assert restarted.pending == 0
            stored = bot.store.retrieve([r.id for r in records])
            assert sorted(p.id for p in stored) == sorted(r.id for r in records)

        stats = http.get("/stats").json()
        assert stats["total"] == burst_count + OUTBOX_MEMORIES  # nothing doubled
        exported = [json.loads(line)["id"] for line in http.get("/export").text.splitlines()]
        assert len(exported) == len(set(exported)) == stats["total"]
