"""Prometheus text exposition (format 0.0.4), written by hand: a few counters and histograms.

Request metrics are labelled by route template (`/memory/{memory_id}`), never by raw path, so
their number stays bounded. Store and notification figures are read when scraped.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.total += value


@dataclass(frozen=True)
class Sample:
    """One gauge or counter value for `render`."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A metric family: its samples and how Prometheus should read them."""

    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[Sample]


class Metrics:
    """Request counters and latency histograms, and memories written, since start."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._errors: dict[Labels, int] = {}
        self._latency: dict[Labels, _Histogram] = {}
        self._written: dict[Labels, int] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a finished request and record its latency."""
        key = (("method", method), ("route", route))
        with self._lock:
            counted = (*key, ("status", str(status)))
            self._requests[counted] = self._requests.get(counted, 0) + 1
            if status >= 400:
                kind = (*key, ("kind", "server" if status >= 500 else "client"))
                self._errors[kind] = self._errors.get(kind, 0) + 1
            self._latency.setdefault(key, _Histogram()).observe(seconds)

    def memories_written(self, source: str, count: int) -> None:
        """Count memories written through the service (`source`: memory, webhook, import...)."""
        if count:
            key = (("source", source),)
            with self._lock:
                self._written[key] = self._written.get(key, 0) + count

    def render(self, families: Iterable[Family] = ()) -> str:
        """The exposition text: request metrics, then the given families."""
        with self._lock:
            requests = dict(self._requests)
            errors = dict(self._errors)
            written = dict(self._written)
            latency = {k: (list(h.counts), h.total) for k, h in self._latency.items()}
        lines: list[str] = []
        _family(lines, "mem0_http_requests_total", "counter", "HTTP requests handled.", requests)
        _family(
            lines, "mem0_http_errors_total", "counter", "HTTP requests answered 4xx/5xx.", errors
        )
        name = "mem0_http_request_duration_seconds"
        lines += [f"# HELP {name} Time to answer a request.", f"# TYPE {name} histogram"]
        for labels, (counts, total) in sorted(latency.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {cumulative}")
            lines.append(f"{name}_sum{_labels(labels)} {total!r}")
            lines.append(f"{name}_count{_labels(labels)} {cumulative}")
        _family(
            lines,
            "mem0_memories_written_total",
            "counter",
            "Memories written through the service, by source.",
            written,
        )
        for family in families:
            lines.append(f"# HELP {family.name} {family.help}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                lines.append(f"{sample.name}{_labels(labels)} {_number(sample.value)}")
        return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, help: str, values: dict[Labels, int]) -> None:
    lines += [f"# HELP {name} {help}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{_labels(labels)} {value}" for labels, value in sorted(values.items()))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def gauge(name: str, help: str, samples: Iterable[Sample]) -> Family:
    """A gauge family."""
    return Family(name, "gauge", help, list(samples))


def counter(name: str, help: str, samples: Iterable[Sample]) -> Family:
    """A counter family."""
    return Family(name, "counter", help, list(samples))
