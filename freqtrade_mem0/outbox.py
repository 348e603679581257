"""Delivery of memories from a running strategy: never blocking it, never losing or doubling.

A callback only appends to an in-memory queue. Delivery happens elsewhere:

- live and dry-run: a background thread writes new memories to a journal on disk (so a store
  that is down, locked or full costs nothing), then delivers them in batches and removes from
  the journal only what the store acknowledged. A restart re-reads the journal.
- simulated runs (backtest): memories wait in memory and are delivered by `flush()` at the end.

Deterministic ids make every delivery an idempotent upsert, so a batch delivered twice (a crash
after the store acknowledged, before the journal was trimmed) is still one memory each.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from freqtrade_mem0.errors import Mem0Error, TemporaryError
from freqtrade_mem0.models import MemoryRecord

logger = logging.getLogger(__name__)

JOURNAL = "pending.jsonl"
Deliver = Callable[[list[MemoryRecord]], None]


class Outbox:
    """A queue of memories on their way to the store.

    Args:
        deliver: writes one batch to the store; raises `TemporaryError` when it cannot now.
        path: journal folder (durable mode); None keeps memories in memory only.
        batch_size: memories per delivery.
        retry_max_seconds: the longest back-off between failed deliveries.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        path: Path | None = None,
        batch_size: int = 256,
        retry_max_seconds: float = 300.0,
    ) -> None:
        self._deliver = deliver
        self.path = path
        self.batch_size = batch_size
        self.retry_max_seconds = retry_max_seconds
        self._incoming: deque[MemoryRecord] = deque()  # appended by callbacks (thread-safe)
        self._pending: list[MemoryRecord] = []  # journaled or kept, not yet acknowledged
        self._lock = threading.Lock()  # one delivery at a time
        self._failures = 0
        self._next_attempt = 0.0
        self._logged_error: str | None = None
        self.delivered = 0
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._pending = self._read_journal()

    def put(self, record: MemoryRecord) -> None:
        """Queue a memory. O(1), no I/O: safe on any callback's critical path."""
        self._incoming.append(record)

    def put_many(self, records: Iterable[MemoryRecord]) -> None:
        """Queue several memories."""
        self._incoming.extend(records)

    def waiting(self, start: int = 0) -> list[MemoryRecord]:
        """A snapshot of the memories not yet acknowledged, oldest first, from the `start`-th
        (thread-safe)."""
        pending, incoming = self._pending, [*self._incoming]  # copies in C, under the GIL
        if start >= len(pending):
            return incoming[start - len(pending) :]
        return [*pending[start:], *incoming]

    @property
    def pending(self) -> int:
        """Memories not yet acknowledged by the store."""
        return len(self._incoming) + len(self._pending)

    def flush(self, *, force: bool = False) -> bool:
        """Journal what is new and deliver what is pending.

        Args:
            force: ignore the back-off after earlier failures.

        Returns:
            True when nothing is left pending.
        """
        with self._lock:
            self._take_incoming()
            if not self._pending:
                return True
            if not force and time.monotonic() < self._next_attempt:
                return False
            try:
                while self._pending:
                    batch = self._pending[: self.batch_size]
                    self._deliver(batch)
                    self._pending = self._pending[len(batch) :]
                    self.delivered += len(batch)
                    self._write_journal()
            except (TemporaryError, OSError) as exc:
                self._back_off(exc)
                return False
            except Mem0Error as exc:
                # Not temporary: retrying will not help, but the memories stay journaled so an
                # operator can fix the store and lose nothing.
                self._back_off(exc)
                return False
            if self._failures:
                logger.info("memory store is back: delivered %d pending memories", self.delivered)
            self._failures = 0
            self._next_attempt = 0.0
            self._logged_error = None
            return True

    def _take_incoming(self) -> None:
        taken: list[MemoryRecord] = []
        while self._incoming:
            taken.append(self._incoming.popleft())
        if not taken:
            return
        self._pending.extend(taken)
        try:
            self._append_journal(taken)
        except OSError as exc:  # a full or read-only disk: keep them in memory meanwhile
            logger.warning("outbox journal not writable (%s): memories kept in memory", exc)

    def _back_off(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(self.retry_max_seconds, 2.0 ** min(self._failures, 16))
        self._next_attempt = time.monotonic() + delay
        message = str(exc)
        if message != self._logged_error:  # log a failure once, not on every retry
            logger.warning(
                "memory store unavailable, %d memories kept %s; retrying: %s",
                len(self._pending),
                "on disk" if self.path else "in memory",
                message,
            )
            self._logged_error = message

    # -- the journal -------------------------------------------------------------------------

    @property
    def _journal(self) -> Path | None:
        return None if self.path is None else self.path / JOURNAL

    def _read_journal(self) -> list[MemoryRecord]:
        journal = self._journal
        if journal is None or not journal.exists():
            return []
        records: list[MemoryRecord] = []
        with journal.open() as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(MemoryRecord.model_validate_json(line))
                except ValueError:
                    # A torn last line from a crash mid-append; everything before it is whole.
                    logger.warning(
                        "outbox journal %s: skipping unreadable line %d", journal, number
                    )
        if records:
            logger.info("outbox: %d memories from a previous run wait for delivery", len(records))
        return records

    def _append_journal(self, records: list[MemoryRecord]) -> None:
        journal = self._journal
        if journal is None:
            return
        with journal.open("a") as out:
            out.writelines(r.model_dump_json() + "\n" for r in records)
            out.flush()
            os.fsync(out.fileno())

    def _write_journal(self) -> None:
        journal = self._journal
        if journal is None:
            return
        tmp = journal.with_suffix(".tmp")
        with tmp.open("w") as out:
            out.writelines(r.model_dump_json() + "\n" for r in self._pending)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(journal)


class DeliveryThread:
    """Flushes an outbox every `interval` seconds in the background until stopped.

    Args:
        outbox: what to deliver.
        interval: seconds between deliveries (`wake()` delivers sooner).
        ahead: if given, called on each wake instead of a delivery, to prepare what waits
            (a simulated run embeds texts ahead), and called again while it returns True
            and no stop is asked; the outbox is then delivered on `stop()` or by its owner.
    """

    def __init__(
        self, outbox: Outbox, interval: float, *, ahead: Callable[[], bool] | None = None
    ) -> None:
        self.outbox = outbox
        self.interval = interval
        self._ahead = ahead
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mem0-outbox", daemon=True)

    def start(self) -> None:
        """Start delivering."""
        self._thread.start()

    def wake(self) -> None:
        """Deliver now rather than at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop, after one last delivery attempt."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._ahead is None:
                self._flush()
            else:
                self._prepare(self._ahead)
            self._wake.wait(self.interval)
            self._wake.clear()
        self._flush(force=True)

    def _flush(self, force: bool = False) -> None:
        try:
            self.outbox.flush(force=force)
        except Exception:  # the thread must outlive any surprise; the journal keeps the data
            logger.exception("outbox delivery failed unexpectedly")

    def _prepare(self, ahead: Callable[[], bool]) -> None:
        try:
            while not self._stop.is_set() and ahead():
                pass
        except Exception:  # preparing is an optimisation: delivery will do the work itself
            logger.exception("outbox preparation failed unexpectedly")
