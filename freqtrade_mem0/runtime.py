"""The memory side of one running strategy: its identity, store connection and outbox.

Built at `bot_start`, never at import or pickling time (hyperopt pickles strategies into worker
processes). The store is opened on first need; if it cannot be (a locked embedded store, a
server that is down) the runtime keeps working and tries again later.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import Embedder, is_loaded, on_one_core
from freqtrade_mem0.errors import StoreUnavailableError, TemporaryError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryRecord, RunMode
from freqtrade_mem0.outbox import DeliveryThread, Outbox
from freqtrade_mem0.query import Node, and_, eq
from freqtrade_mem0.recall import RecallIndex

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

_ACTIVE: weakref.WeakSet[MemoryRuntime] = weakref.WeakSet()
# One open Memory per location and process: an embedded store admits one opener, and the
# strategies of one `--strategy-list` backtest (or lookahead analysis) run in one process.
_SHARED: dict[str, tuple[Memory, int]] = {}
_SHARED_LOCK = threading.Lock()
# A backtest's thread prepares the text vectors of the memories it queues a chunk at a time,
# from the first few on: it then keeps pace with the trades as they close, and the flush at the
# end, which embeds whatever is left on every core, waits for one chunk at most.
SIMULATED_BATCH = 8  # new memories a backtest queues before its thread prepares them
AHEAD_CHUNK = 16  # texts per lookup and embedding call ahead of the flush
_ATEXIT_LOCK = threading.Lock()
_atexit_registered = False


@dataclass(frozen=True)
class RunIdentity:
    """Who is writing: strategy, mode, run and market."""

    strategy: str
    mode: RunMode
    run_id: str | None
    exchange: str | None
    timeframe: str | None
    user_data_dir: Path


class MemoryRuntime:
    """Store connection, outbox and delivery for one strategy instance."""

    def __init__(
        self,
        settings: Settings,
        identity: RunIdentity,
        *,
        embedder: Embedder | None = None,
        reopen_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.embedder = embedder
        self.writes = settings.enabled and identity.mode in settings.write_modes
        # how long to wait before trying to open an unavailable store again
        self.reopen_seconds = reopen_seconds or min(30.0, settings.outbox.retry_max_seconds)
        self._memory: Memory | None = None
        self._next_open = 0.0
        self._open_lock = threading.Lock()
        durable = identity.mode.is_real_time and self.writes
        self.outbox = Outbox(
            self._deliver,
            path=self._journal_dir() if durable else None,
            batch_size=settings.outbox.batch_size,
            retry_max_seconds=settings.outbox.retry_max_seconds,
        )
        # Delivery runs beside the bot. Live, on an interval. In a backtest, whenever a few
        # memories wait, the thread embeds their texts, so the model's work overlaps the
        # simulation (the traced model leaves the GIL to it); the store writes at the flush,
        # on the caller's thread: an Edge write from the side thread waits for the GIL at
        # every step while the simulation runs (8 memories took 1.1 s there, 87 take 0.03 s
        # at the flush).
        self._text_vectors: dict[str, np.ndarray] = {}  # embedded ahead, by text
        # A backtest run again closes many of the same trades, with the same texts: their
        # vectors are read back from this strategy's stored memories instead of embedded.
        self._reuse_where: Node | None = None
        if not identity.mode.is_real_time:
            self._reuse_where = eq("strategy", identity.strategy)
        self._embed_lock = threading.Lock()
        # Waiting memories embedding ahead has looked at already (a delivery starts it over):
        # each chunk reads only what arrived since, not the whole run's memories again.
        self._ahead_from = 0
        self._thread: DeliveryThread | None = None
        if self.writes:
            ahead = None if identity.mode.is_real_time else self._embed_ahead
            self._thread = DeliveryThread(
                self.outbox, settings.outbox.flush_interval_seconds, ahead=ahead
            )
            self._thread.start()
        _register(self)

    def _journal_dir(self) -> Path:
        if self.settings.outbox.path:
            return Path(self.settings.outbox.path).expanduser()
        mode = self.identity.mode.value
        return self.identity.user_data_dir / "mem0-outbox" / f"{self.identity.strategy}-{mode}"

    @property
    def location(self) -> str:
        """Where the memories go."""
        return self.settings.location(self.identity.user_data_dir)

    def memory(self) -> Memory | None:
        """The open memory, opening it if due; None while the store is unavailable."""
        if self._memory is not None:
            return self._memory
        with self._open_lock:
            if self._memory is None and time.monotonic() >= self._next_open:
                try:
                    self._memory = _acquire(self.location, self.settings, self.embedder)
                except TemporaryError as exc:
                    self._next_open = time.monotonic() + self.reopen_seconds
                    logger.warning("memory store not available yet (%s); will retry", exc)
        return self._memory

    def load_index(self, index: RecallIndex, *, all_strategies: bool = False) -> int:
        """Load past trade memories into a recall index (once, at start); returns how many."""
        memory = self.memory()
        if memory is None:
            logger.warning("recall starts empty: the memory store is not available")
            return 0
        where: Node | None = and_(
            eq("kind", "trade"),
            None if all_strategies else eq("strategy", self.identity.strategy),
        )
        loaded = index.add(memory.iterate(where, batch_size=2048))
        logger.info("freqtrade-mem0: recall index holds %d past trades", loaded)
        return loaded

    def _deliver(self, batch: list[MemoryRecord]) -> None:
        memory = self.memory()
        if memory is None:
            raise StoreUnavailableError(f"memory store at {self.location} is not available")
        with self._embed_lock:  # texts being embedded ahead right now are not embedded twice
            memory.remember(
                batch,
                batch_size=self.settings.outbox.batch_size,
                text_vectors=self._text_vectors,
                reuse_where=self._reuse_where,
            )
            for record in batch:
                self._text_vectors.pop(record.text, None)
            self._ahead_from = 0

    def _embed_ahead(self) -> bool:
        """Prepare the text vectors of a chunk of the memories waiting for the next flush (a
        simulated run): read back those stored by an earlier run, embed the others on one core
        (the simulation has the other); True when a chunk was prepared and more may wait."""
        memory = self.memory()
        if memory is None:
            return False
        with self._embed_lock:
            texts: dict[str, None] = {}
            for record in self.outbox.waiting(self._ahead_from):
                if len(texts) == AHEAD_CHUNK:
                    break
                self._ahead_from += 1
                if record.text not in self._text_vectors:
                    texts[record.text] = None
            if not texts:
                return False
            self._text_vectors.update(memory.stored_text_vectors(texts, self._reuse_where))
            missing = [text for text in texts if text not in self._text_vectors]
            # Loading the model (1.6 s in a new process: imports and tracing, all under the
            # interpreter's lock) beside the simulation slowed it by as much, and left the
            # embedding behind it: the flush loads it, then embeds on every core.
            if missing and is_loaded(memory.embedder):
                with on_one_core():
                    vectors = memory.embedder.embed(missing)
                self._text_vectors.update(zip(missing, vectors, strict=True))
            return True

    def put(self, record: MemoryRecord) -> None:
        """Queue a memory for delivery (no I/O here)."""
        if self.writes:
            self.outbox.put(record)
            # A backtest's thread prepares what arrived since it last looked, a few at a time:
            # waking it at every memory would make it read the store for each one alone.
            simulated = not self.identity.mode.is_real_time
            if simulated and self.outbox.pending - self._ahead_from >= SIMULATED_BATCH:
                self.wake()

    def wake(self) -> None:
        """Ask the delivery thread to deliver now."""
        if self._thread is not None:
            self._thread.wake()

    def flush(self) -> bool:
        """Deliver everything pending now; True when nothing is left."""
        return self.outbox.flush(force=True)

    def close(self) -> None:
        """Deliver what can be delivered, stop the thread, close the store."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        else:
            self.flush()
        if self.outbox.pending:
            where = f"in {self.outbox.path}" if self.outbox.path else "and are lost with this run"
            logger.warning(
                "%d memories could not be delivered; they wait %s", self.outbox.pending, where
            )
        memory, self._memory = self._memory, None
        if memory is not None:
            _release(self.location, memory)
        _ACTIVE.discard(self)

    def release_store(self) -> None:
        """Let go of the store until it is needed again (reads reopen it)."""
        with self._open_lock:
            memory, self._memory = self._memory, None
        if memory is not None:
            _release(self.location, memory)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a MemoryRuntime holds files and threads and cannot be pickled")


@contextmanager
def shared_memory(
    location: str, settings: Settings, embedder: Embedder | None = None
) -> Iterator[Memory]:
    """The memory at `location`, shared with any strategy of this process that has it open."""
    memory = _acquire(location, settings, embedder)
    try:
        yield memory
    finally:
        _release(location, memory)


def _acquire(location: str, settings: Settings, embedder: Embedder | None) -> Memory:
    with _SHARED_LOCK:
        memory, users = _SHARED.get(location) or (None, 0)
        if memory is None:
            memory = Memory.open(location, settings=settings, embedder=embedder)
        _SHARED[location] = (memory, users + 1)
        return memory


def _release(location: str, memory: Memory) -> None:
    with _SHARED_LOCK:
        shared, users = _SHARED.get(location) or (None, 0)
        if shared is not memory:
            memory.close()
        elif users <= 1:
            del _SHARED[location]
            memory.close()
        else:
            _SHARED[location] = (memory, users - 1)


def _register(runtime: MemoryRuntime) -> None:
    global _atexit_registered
    _ACTIVE.add(runtime)
    with _ATEXIT_LOCK:
        if not _atexit_registered:
            atexit.register(close_all)
            _atexit_registered = True


def close_all() -> None:
    """Flush and close every active runtime and every store they shared (end of a run,
    interpreter exit)."""
    for runtime in list(_ACTIVE):
        try:
            runtime.close()
        except Exception:  # closing must reach every runtime
            logger.exception("closing the memory runtime failed")
    with _SHARED_LOCK:  # stores of runtimes dropped without closing (analysis commands)
        leftovers = [memory for memory, _ in _SHARED.values()]
        _SHARED.clear()
    for memory in leftovers:
        try:
            memory.close()
        except Exception:
            logger.exception("closing a memory store failed")
