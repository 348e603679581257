"""Outbound events: new memories announced to n8n and the controller, never blocking a request.

Each target has its own bounded queue and delivery thread, so a target that is down delays
only its own events. A request only enqueues (`publish` never waits); a full queue drops the
new event and counts it. Delivery retries connection errors, timeouts, 408, 429 and 5xx with
exponential back-off (honouring `Retry-After`); other 4xx answers are final. Every attempt of
one event carries the same `Idempotency-Key` header so a receiver can ignore repeats.

An event::

    {"type": "backtest", "event": "memory.created", "id": "<memory id>",
     "data": {<the memory in the wire format>}}
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.query import Node, evaluate

logger = logging.getLogger(__name__)

EVENT_CREATED = "memory.created"
_RETRYABLE = {408, 425, 429}


def memory_event(record: MemoryRecord) -> dict[str, Any]:
    """The event announcing a new memory."""
    return {
        "type": record.type.value,
        "event": EVENT_CREATED,
        "id": record.id,
        "data": record.to_public().model_dump(mode="json", exclude={"score"}),
    }


@dataclass
class TargetStats:
    """Counters of one target."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    in_flight: int = 0

    def to_dict(self, pending: int) -> dict[str, int]:
        """JSON-ready, with the events still waiting."""
        return {
            "pending": pending,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "retries": self.retries,
        }


class _Target:
    """One URL: its queue, its thread and its counters."""

    def __init__(self, name: str, url: str, notifier: Notifier) -> None:
        self.name = name
        self.url = url
        self.notifier = notifier
        self.queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(notifier.queue_size)
        self.stats = TargetStats()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"mem0-notify-{name}", daemon=True)

    @property
    def pending(self) -> int:
        return self.queue.qsize() + self.stats.in_flight

    def offer(self, event_id: str, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((event_id, event))
        except queue.Full:
            with self.lock:
                self.stats.dropped += 1
            logger.warning("%s notification queue is full: dropped event %s", self.name, event_id)

    def _run(self) -> None:
        with self.notifier.client_factory() as client:
            while not self.notifier.stopped.is_set():
                try:
                    event_id, event = self.queue.get(timeout=0.2)
                except queue.Empty:
                    if self.notifier.closing.is_set():
                        return
                    continue
                with self.lock:
                    self.stats.in_flight = 1
                try:
                    self._deliver(client, event_id, event)
                except Exception:  # the thread must outlive any one event
                    logger.exception("%s: delivering event %s failed", self.name, event_id)
                    with self.lock:
                        self.stats.failed += 1
                finally:
                    with self.lock:
                        self.stats.in_flight = 0

    def _deliver(self, client: httpx.Client, event_id: str, event: dict[str, Any]) -> None:
        notifier = self.notifier
        headers = {"Idempotency-Key": event_id}
        for attempt in range(notifier.retries + 1):
            retry_after: float | None = None
            try:
                response = client.post(self.url, json=event, headers=headers)
                if response.is_success:
                    with self.lock:
                        self.stats.delivered += 1
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in _RETRYABLE:
                    self._fail(event_id, problem + " (not retried)")
                    return
                retry_after = _retry_after(response)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt == notifier.retries:
                self._fail(event_id, f"{problem} after {attempt + 1} attempts")
                return
            delay = notifier.backoff * 2**attempt
            if retry_after is not None:
                delay = max(delay, retry_after)
            with self.lock:
                self.stats.retries += 1
            logger.info("%s: %s; retrying event %s in %.1fs", self.name, problem, event_id, delay)
            if notifier.stopped.wait(min(delay, notifier.backoff_max)):
                self._fail(event_id, "service stopping")
                return

    def _fail(self, event_id: str, problem: str) -> None:
        with self.lock:
            self.stats.failed += 1
        logger.warning(
            "%s: could not deliver event %s to %s: %s", self.name, event_id, self.url, problem
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Notifier:
    """Announces new memories to each configured target, in the background.

    Args:
        targets: target name to URL (`ServiceSettings.notify_targets`).
        where: which memories to announce (None: all).
        retries: retries per event after the first attempt.
        backoff: first retry delay in seconds; doubles per retry.
        backoff_max: the longest delay between two attempts.
        timeout: seconds per attempt.
        queue_size: events waiting per target before new ones are dropped.
        client_factory: builds the HTTP client of each delivery thread.
    """

    def __init__(
        self,
        targets: Mapping[str, str],
        *,
        where: Node | None = None,
        retries: int = 5,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        timeout: float = 5.0,
        queue_size: int = 10_000,
        client_factory: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.where = where
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.queue_size = queue_size
        self.client_factory = client_factory or (lambda: httpx.Client(timeout=timeout))
        self.closing = threading.Event()  # no new events; deliver what is queued
        self.stopped = threading.Event()  # stop now
        self._targets = [_Target(name, url, self) for name, url in targets.items()]
        self._started = False

    @property
    def enabled(self) -> bool:
        """Whether any target is configured."""
        return bool(self._targets)

    def start(self) -> None:
        """Start the delivery threads."""
        if not self._started:
            self._started = True
            for target in self._targets:
                target.thread.start()

    def publish(self, records: list[MemoryRecord]) -> int:
        """Queue an event per new memory that the filter selects; returns how many. Never blocks."""
        if not self._targets or self.closing.is_set():
            return 0
        chosen = [r for r in records if evaluate(self.where, r.to_payload())]
        for record in chosen:
            event = memory_event(record)
            event_id = str(uuid.uuid4())
            for target in self._targets:
                target.offer(event_id, event)
        return len(chosen)

    @property
    def pending(self) -> int:
        """Events queued or being delivered, over all targets."""
        return sum(target.pending for target in self._targets)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per target: URL, pending, delivered, failed, dropped and retries."""
        return {t.name: {"url": t.url, **t.stats.to_dict(t.pending)} for t in self._targets}

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for up to `timeout` seconds, then stop."""
        self.closing.set()
        deadline = time.monotonic() + timeout
        for target in self._targets:
            if target.thread.is_alive():
                target.thread.join(max(0.0, deadline - time.monotonic()))
        self.stopped.set()
        for target in self._targets:
            if target.thread.is_alive():
                target.thread.join(1.0)
            if target.pending:
                logger.warning("%s: %d events were not delivered", target.name, target.pending)
