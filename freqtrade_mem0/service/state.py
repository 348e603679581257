"""What the routes share: the memory (opened when the store can be reached), the notifier,
the metrics, and the gate that holds writes while a backup is made."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from freqtrade_mem0.errors import StoreUnavailableError, TemporaryError
from freqtrade_mem0.memory import Memory, batched
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.service.metrics import Metrics
from freqtrade_mem0.service.notify import Notifier
from freqtrade_mem0.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MemoryProvider:
    """The service's memory: given, or opened on first need and again after a failed open.

    A store that is not reachable at start (a Qdrant container still starting, an embedded
    store another process holds) leaves the service up: `/health` answers, everything else
    answers 503 until an attempt to open succeeds. Operational errors (an incompatible store)
    are raised at once.
    """

    def __init__(
        self,
        opener: Callable[[], Memory] | None = None,
        memory: Memory | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        if (opener is None) == (memory is None):
            raise ValueError("give an opener or an open memory")
        self._opener = opener
        self._memory = memory
        self.owned = memory is None
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._next_attempt = 0.0
        self.last_error: str | None = None

    @property
    def current(self) -> Memory | None:
        """The open memory, or None while there is none (without trying to open one)."""
        return self._memory

    def get(self) -> Memory:
        """The open memory.

        Raises:
            StoreUnavailableError: the store cannot be opened now.
        """
        memory = self._memory
        if memory is not None:
            return memory
        with self._lock:
            if self._memory is not None:
                return self._memory
            if time.monotonic() < self._next_attempt or self._opener is None:
                raise StoreUnavailableError(f"the store is unavailable: {self.last_error}")
            try:
                self._memory = self._opener()
            except TemporaryError as exc:
                self.last_error = str(exc)
                self._next_attempt = time.monotonic() + self.retry_seconds
                raise
            self.last_error = None
            return self._memory

    def try_open(self) -> None:
        """Open now if possible; log, and leave it for later, if the store is unavailable."""
        try:
            self.get()
        except TemporaryError as exc:
            logger.warning("store not available yet (retrying on demand): %s", exc)

    def close(self) -> None:
        """Close the memory if the provider opened it (a given one is its owner's to close)."""
        if not self.owned:
            return
        with self._lock:
            memory, self._memory = self._memory, None
        if memory is not None:
            memory.close()


class WriteGate:
    """Writers share the gate; a backup holds it alone, so its copy is consistent."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._writers = 0
        self._exclusive = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the gate for a write (waits while a backup runs)."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._writers += 1
        try:
            yield
        finally:
            with self._cond:
                self._writers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate alone: new writes wait, running ones finish first."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._writers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


@dataclass
class ServiceState:
    """Everything a route may need besides its request."""

    settings: ServiceSettings
    memories: MemoryProvider
    notifier: Notifier
    metrics: Metrics = field(default_factory=Metrics)
    gate: WriteGate = field(default_factory=WriteGate)
    started: float = field(default_factory=time.time)
    _workers: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (embedding, a store call) on the service's own threads.

        Straight through the event loop's executor: FastAPI's thread pool (anyio) adds a
        capacity limiter, a cancel scope and two turns of the loop to every call, which
        measured 0.2 ms of a 1.2 ms single write; this hop costs about 0.05 ms.
        """
        if self._workers is None:
            self._workers = ThreadPoolExecutor(thread_name_prefix="mem0-worker")
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._workers, call)

    def stop_workers(self) -> None:
        """Let running work finish and release the threads (a later `run` starts anew)."""
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True)

    def remember(
        self,
        memory: Memory,
        records: Sequence[MemoryRecord],
        source: str,
        *,
        announce: bool = True,
    ) -> list[MemoryRecord]:
        """Store records (an upsert by id); returns those that were new.

        Args:
            memory: the open memory.
            records: what to store.
            source: which route wrote them (a metrics label).
            announce: notify the targets of the new ones (bulk imports do not).
        """
        unique = list({r.id: r for r in records}.values())
        memory.check(unique)  # all of them first: a refused request writes nothing
        created: list[MemoryRecord] = []
        with self.gate.writing():
            for chunk in batched(unique, 1024):
                existing = {p.id for p in memory.store.retrieve([r.id for r in chunk])}
                memory.remember(chunk)
                created.extend(r for r in chunk if r.id not in existing)
        self.metrics.memories_written(source, len(unique))
        if announce:
            self.notifier.publish(created)
        return created
