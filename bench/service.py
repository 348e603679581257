"""The memory service under load: sustained writes/s and search p50/p99 at 100k memories.

The service (`freqtrade-mem0 serve`, embedded Qdrant Edge store, hashing embedder) runs in a
subprocess; this process is its loopback HTTP client (keep-alive, on a raw socket: see
`Client`). The store is filled before the service starts, straight into Edge: synthetic trade
memories whose text vectors are precomputed with the hashing embedder from 2,000 distinct texts
(so filling costs the store's own write time, not embedding), not optimized (the state right
after a bulk load; `POST /optimize` takes about a minute at this size on two cores). Searches
mix free text (exact cosine search over all points), free text with a filter, and filters
alone, newest first. The peer is the same searches through `Memory.search` in one process, no
HTTP: the floor the service adds to. Writes are single `POST /memory` requests (one client, in
four windows whose median is the figure, then two client processes), and `POST /memory/batch`
of 100. Client and service share the machine's cores.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from bench.common import Figure, Latency, median, progress, samples
from freqtrade_mem0 import fingerprint
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode, memory_id
from freqtrade_mem0.security.keys import KeyFile, generate_key
from freqtrade_mem0.stores import MARKET_VECTOR, TEXT_VECTOR, StoredPoint

BUDGET_SECONDS = 170
START = datetime(2023, 1, 1, tzinfo=UTC)
STRATEGIES = [f"Strategy{i}" for i in range(8)]
PAIRS = ["BTC/USDT", "ETH/USDT", "ADA/USDT", "SOL/USDT", "XRP/USDT", "DOT/USDT"]
EXITS = ["roi", "stop_loss", "trailing_stop_loss", "exit_signal"]
WORDS = ["quiet", "trending", "volatile", "ranging", "breakout", "reversal", "spike", "squeeze"]
QUERIES = [
    "losing longs after a volume spike",
    "breakout on a trending market",
    "strategy:Strategy3 quiet reversal",
    "pair:ETH/USDT AND profit:>1.0 volatile squeeze",
    "strategy:Strategy1 AND profit:>2.0",
    "pair:BTC/USDT AND timestamp:[2023-03-01 TO 2023-06-30]",
    "exit_reason:stop_loss AND side:short",
    "",
]


def templates(count: int = 2000) -> list[tuple[dict[str, Any], list[float]]]:
    """Distinct trade memories (as payloads) with their text vectors."""
    rng = random.Random(7)
    records = []
    for i in range(count):
        pair, side = PAIRS[i % len(PAIRS)], ("long", "short")[i % 2]
        profit = round(rng.uniform(-6, 6), 2)
        words = " ".join(rng.sample(WORDS, 2))
        records.append(
            MemoryRecord(
                key=f"template|{i}",
                kind=MemoryKind.TRADE,
                type=MemoryType.BACKTEST,
                text=f"{pair} {side} closed {profit:+.2f}% by {EXITS[i % 4]}; entry in a {words} "
                f"market",
                strategy=STRATEGIES[i % len(STRATEGIES)],
                timestamp=START,
                pair=pair,
                side=side,
                timeframe="5m",
                mode=RunMode.BACKTEST,
                run_id=f"run-{i % 50}",
                exit_reason=EXITS[i % 4],
                metrics={"profit": profit, "duration": float(rng.randint(5, 600))},
                market=tuple(rng.gauss(0, 1) for _ in range(fingerprint.DIM)),
                fingerprint_version=fingerprint.FINGERPRINT_VERSION,
            )
        )
    vectors = HashingEmbedder().embed([r.text for r in records])
    return [(r.to_payload(), v.tolist()) for r, v in zip(records, vectors, strict=True)]


def fill(path: Path, n: int) -> float:
    """Write n memories into a new embedded store; returns seconds taken."""
    started = time.perf_counter()
    base = templates()
    with Memory.open(str(path), embedder=HashingEmbedder()) as memory:
        batch: list[StoredPoint] = []
        for i in range(n):
            payload, text_vector = base[i % len(base)]
            key = f"bench|{i}"
            when = START + timedelta(minutes=5 * i)
            point_payload = {
                **payload,
                "key": key,
                "id": memory_id(key),
                "timestamp": when.isoformat().replace("+00:00", "Z"),
                "ts": when.timestamp(),
                "created_at": when.isoformat().replace("+00:00", "Z"),
            }
            vectors = {TEXT_VECTOR: text_vector, MARKET_VECTOR: payload_market(base, i)}
            batch.append(StoredPoint(point_payload["id"], point_payload, vectors))
            if len(batch) == 2000:
                memory.store.upsert(batch)
                batch = []
        memory.store.upsert(batch)
    return time.perf_counter() - started


_MARKETS: dict[int, list[float]] = {}


def payload_market(base: list[tuple[dict[str, Any], list[float]]], i: int) -> list[float]:
    key = i % 997  # a different cycle than the texts: text and market pair up differently
    if key not in _MARKETS:
        rng = random.Random(key)
        _MARKETS[key] = [rng.gauss(0, 1) for _ in range(fingerprint.DIM)]
    return _MARKETS[key]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The admin key the service accepts (its keys file, in the run's scratch folder, holds its hash).
API_KEY = generate_key()[1]


@contextmanager
def service(store: Path, backups: Path) -> Iterator[str]:
    """`freqtrade-mem0 serve` in a subprocess; yields its URL once it is ready."""
    port = free_port()
    keys_file = backups.parent / "keys.json"
    KeyFile(keys_file).create("bench", "admin", key=API_KEY)
    command = [
        sys.executable,
        "-c",
        "from freqtrade_mem0.cli import main; main()",
        "--embedder",
        "hashing",
        "serve",
        "--store",
        str(store),
        "--backup-dir",
        str(backups),
        "--keys-file",
        str(keys_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(url + "/status", headers={"X-API-Key": API_KEY}, timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the service did not start: {proc.stderr and proc.stderr.read()}"
                )
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


class Client:
    """A minimal keep-alive HTTP/1.1 client on a raw socket, so the figures are the service's.

    `http.client` parses every answer's headers with the `email` package: about 0.3 ms of
    client time per request here, a sixth of a single write's round trip. This client sends
    prebuilt bytes and reads the status line, Content-Length and body only.
    """

    def __init__(self, url: str, key: str = API_KEY) -> None:
        parsed = urlsplit(url)
        self.address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.head = f"Host: {parsed.netloc}\r\nX-API-Key: {key}\r\n"
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request; returns the decoded JSON answer (raises on a non-2xx status)."""
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        message = (head + "\r\n").encode() + data
        try:
            status, payload = self._exchange(message)
        except (ConnectionError, EOFError):  # the server closed an idle keep-alive connection
            self.close()
            status, payload = self._exchange(message)  # writes are idempotent by key
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {payload[:200]!r}")
        return json.loads(payload)

    def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.reader = self.sock.makefile("rb")
        self.sock.sendall(message)
        status_line = self.reader.readline()
        if not status_line:
            raise EOFError("connection closed")
        length = None
        while (header := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length: {status_line!r}")
        return int(status_line.split()[1]), self.reader.read(length)

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
            self.sock = None


def memory_body(key: str, when: datetime) -> dict[str, Any]:
    return {
        "messages": [{"role": "system", "content": f"{key}: a quiet breakout held, +1.2% by roi"}],
        "metadata": {
            "type": "live",
            "strategy": "Writer",
            "pair": "BTC/USDT",
            "timestamp": when.isoformat(),
            "key": key,
            "metrics": {"profit": 1.2, "trades": 1, "win_rate": 1.0},
        },
    }


def _writer(url: str, prefix: str, start: float, stop: float, key: str = API_KEY) -> int:
    """Sequential single-memory POSTs between two monotonic times; returns how many."""
    done = 0
    client = Client(url, key)
    try:
        while time.monotonic() < start:
            time.sleep(0.001)
        while time.monotonic() < stop:
            client.request("POST", "/memory", memory_body(f"{prefix}-{done}", datetime.now(UTC)))
            done += 1
    finally:
        client.close()
    return done


def sustained_writes(url: str, seconds: float, clients: int, prefix: str) -> float:
    """Single-memory POSTs per second from `clients` client processes, one connection each."""
    if clients == 1:
        started = time.monotonic()
        return _writer(url, prefix, started, started + seconds) / seconds
    start = time.monotonic() + 1.0  # every client ready before the clock starts
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with context.Pool(clients) as pool:
        counts = pool.starmap(
            _writer,
            [(url, f"{prefix}{i}", start, start + seconds, API_KEY) for i in range(clients)],
        )
    return sum(counts) / seconds


def batch_writes(url: str, seconds: float, size: int = 100) -> float:
    """Memories per second written in `POST /memory/batch` requests of `size`."""
    written, index = 0, 0
    client = Client(url)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        now = datetime.now(UTC)
        body = {"memories": [memory_body(f"batch-{index}-{j}", now) for j in range(size)]}
        client.request("POST", "/memory/batch", body)
        written += size
        index += 1
    client.close()
    return written / (time.monotonic() - started)


def cycle(items: list[str]) -> Callable[[], str]:
    state = {"i": 0}

    def next_item() -> str:
        state["i"] += 1
        return items[state["i"] % len(items)]

    return next_item


def run(quick: bool = False) -> dict[str, Any]:
    """Fill, measure in process (the peer), then through the service; quick: 10k memories."""
    n = 10_000 if quick else 100_000
    searches = 200 if quick else 600
    write_seconds = 3.0 if quick else 8.0
    size = f"{n // 1000}k memories"
    with tempfile.TemporaryDirectory(prefix="mem0-bench-service-") as tmp:
        store = Path(tmp) / "store"
        fill_seconds = fill(store, n)
        progress(f"filled {n} memories in {fill_seconds:.1f} s")
        with Memory.open(str(store), embedder=HashingEmbedder()) as memory:
            query = cycle(QUERIES)
            peer = Latency.of(samples(lambda: memory.search(query(), limit=10), searches, warmup=5))
        progress(f"in-process search p50 {peer.p50:.2f} ms, p99 {peer.p99:.2f} ms")
        with service(store, Path(tmp) / "backups") as url:
            client = Client(url)
            query = cycle(QUERIES)

            def search() -> None:
                client.request("GET", "/search?" + urlencode({"query": query(), "limit": 10}))

            ours = Latency.of(samples(search, searches, warmup=5))
            progress(f"service search p50 {ours.p50:.2f} ms, p99 {ours.p99:.2f} ms")
            # Four windows, the median: this machine's speed drifts within seconds.
            windows = [sustained_writes(url, write_seconds / 4, 1, f"one{i}") for i in range(4)]
            single = median(windows)
            spread = f"{min(windows):.0f}-{max(windows):.0f}/s"
            progress(f"single writes, one connection: {single:.0f}/s (windows {spread})")
            parallel = sustained_writes(url, write_seconds, 2, "two")
            progress(f"single writes, two client processes: {parallel:.0f}/s")
            batched = batch_writes(url, write_seconds)
            progress(f"batched writes: {batched:.0f} memories/s")
            total = client.request("GET", "/stats")["total"]
            client.close()
    note = f"{searches} searches cycling {len(QUERIES)} queries (text, text+filter, filters)"
    figures = [
        Figure(
            f"service search p50, {size}",
            "ms",
            ours.p50,
            target=None,
            peer="in-process Memory.search",
            peer_value=peer.p50,
            note=note,
        ),
        Figure(
            f"service search p99, {size}",
            "ms",
            ours.p99,
            target=50.0,
            peer="in-process Memory.search",
            peer_value=peer.p99,
            note=note + "; store not optimized, as after a bulk load",
        ),
        Figure(
            f"service single writes, one connection, {size}",
            "writes/s",
            single,
            better="higher",
            target=500.0,
            note=f"sequential POST /memory, each embedded and upserted: the median of four "
            f"{write_seconds / 4:.0f} s windows ({spread})",
        ),
        Figure(
            f"service single writes, two client processes, {size}",
            "writes/s",
            parallel,
            better="higher",
            note="two client processes, one connection each; clients and service share the "
            "machine's cores, so this shows contention more than capacity",
        ),
        Figure(
            f"service batched writes (100 per request), {size}",
            "memories/s",
            batched,
            better="higher",
            target=500.0,
            note="POST /memory/batch",
        ),
    ]
    return {
        "figures": figures,
        "memories": n,
        "memories_after": total,
        "fill_seconds": round(fill_seconds, 1),
        "fill": "Edge upserts of synthetic trades, hashing-embedder vectors precomputed from "
        "2,000 distinct texts",
        "search_ms": {"p50": ours.p50, "p99": ours.p99, "n": ours.n},
        "search_in_process_ms": {"p50": peer.p50, "p99": peer.p99, "n": peer.n},
        "writes_per_second": {
            "single_one_connection": single,
            "single_one_connection_windows": windows,
            "single_two_processes": parallel,
            "batched_100": batched,
        },
    }


if __name__ == "__main__":
    from bench.common import figures_table

    result = run(quick="--quick" in sys.argv)
    print(figures_table(result["figures"]))
    print({k: v for k, v in result.items() if k != "figures"})
