"""What every bench script shares: the `Figure` schema, timing helpers and the table writer.

A bench script is a module in `bench/` with

    def run(quick: bool = False) -> list[Figure]: ...

It measures its figures and their peers in the same process, on this machine, and returns them;
`bench.run_all` runs it in a subprocess under a time budget and writes the tables. `quick` is
for development: fewer points, fewer repeats, the same figures. See `bench/README.md`.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Better = Literal["lower", "higher"]
TIME_UNITS = ("s", "ms", "µs", "us", "ns")


@dataclass(frozen=True)
class Figure:
    """One measured number, with what it is aiming for and what it is compared to.

    Attributes:
        name: what was measured, including its size ("edge filtered search p50, 100k points").
        unit: the unit of `measured`, `target` and `peer_value` ("ms", "points/s", ...).
        measured: the number measured in this run.
        better: whether a lower (latencies) or a higher (throughputs) number is better.
        target: the number the design aims for (met when `measured` is on its good side).
        peer: what `peer_value` is: a peer library measured in the same run
            ("qdrant-client local") or a floor ("numpy brute force").
        peer_value: the peer's number for the same work, in the same unit, same run.
        note: how it was measured, caveats ("peer capped at 5 queries").
    """

    name: str
    unit: str
    measured: float
    better: Better = "lower"
    target: float | None = None
    peer: str | None = None
    peer_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """`measured / peer_value` (below 1: a lower number than the peer's)."""
        if self.peer_value is None or self.peer_value == 0 or not math.isfinite(self.measured):
            return None
        return self.measured / self.peer_value

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        if self.target is None:
            return None
        if self.better == "lower":
            return self.measured <= self.target
        return self.measured >= self.target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived `ratio` and `met`."""
        return {**asdict(self), "ratio": self.ratio, "met": self.met}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figure:
        """A figure from `to_dict()` output (derived keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in names})


# -- timing ---------------------------------------------------------------------------------


def progress(message: str) -> None:
    """One line of progress on stderr (the runner shows it prefixed with the script's name)."""
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def samples(
    fn: Callable[[], object],
    n: int,
    *,
    warmup: int = 1,
    max_seconds: float | None = None,
    min_n: int = 3,
) -> list[float]:
    """Seconds per call over `n` calls after `warmup` unmeasured ones.

    With `max_seconds`, stops early once that much time is spent (after at least `min_n`
    calls): a slow peer then gets fewer calls, not a longer run. Say so in the figure's note.
    """
    for _ in range(warmup):
        fn()
    out: list[float] = []
    started = time.perf_counter()
    for _ in range(n):
        out.append(timed(fn))
        spent = time.perf_counter() - started
        if max_seconds is not None and len(out) >= min_n and spent >= max_seconds:
            break
    return out


def median(values: Iterable[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linearly interpolated."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds over `n` calls."""

    p50: float
    p99: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        """From per-call durations in seconds."""
        ms = [s * 1000.0 for s in seconds]
        return cls(p50=percentile(ms, 50), p99=percentile(ms, 99), n=len(ms))


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The shortest of `repeat` timed calls (for runs long enough that noise only adds)."""
    return min(timed(fn) for _ in range(repeat))


# -- the table ------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    """A number to three significant digits, with thousands separators, and its unit."""
    if value is None:
        return ""
    if not math.isfinite(value):
        text = str(value)
    elif value != 0 and abs(value) >= 1000:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def comparison(figure: Figure) -> str:
    """`ratio` in words: "0.02 (48× faster)"."""
    ratio = figure.ratio
    if ratio is None:
        return ""
    good = ratio < 1 if figure.better == "lower" else ratio > 1
    factor = 1 / ratio if ratio < 1 else ratio
    if figure.unit in TIME_UNITS or figure.unit.endswith("/s"):
        words = ("faster", "slower")
    else:
        words = ("better", "worse")
    if ratio == 0 or 0.995 <= factor <= 1.005:
        return fmt(ratio)
    return f"{fmt(ratio)} ({fmt(factor)}× {words[0] if good else words[1]})"


def target_text(figure: Figure) -> str:
    """The target with its sign: "≤ 2 ms", "≥ 400 sentences/s"."""
    if figure.target is None:
        return ""
    sign = "≤" if figure.better == "lower" else "≥"
    return f"{sign} {fmt(figure.target, figure.unit)}"


def figures_table(figures: Sequence[Figure]) -> str:
    """A markdown table: figure, target, measured, peer or floor, ratio, met."""
    lines = [
        "| figure | target | measured | peer / floor | ratio to peer | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        peer = f"{f.peer}: {fmt(f.peer_value, f.unit)}" if f.peer and f.peer_value else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.name} | {target_text(f)} | {fmt(f.measured, f.unit)} | {peer} "
            f"| {comparison(f)} | {met} |"
        )
    return "\n".join(lines)


@dataclass
class ScriptResult:
    """What one bench script produced in one run."""

    script: str
    status: Literal["ok", "failed", "timeout"]
    seconds: float
    quick: bool
    finished_at: str
    description: str = ""
    error: str = ""
    load: float | None = None  # 1-minute load average when the script started
    load_end: float | None = None  # ... and when it ended
    figures: list[Figure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "figures": [f.to_dict() for f in self.figures]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScriptResult:
        """From `to_dict()` output."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["figures"] = [Figure.from_dict(f) for f in data.get("figures", [])]
        return cls(**values)


def coerce_figures(value: Any) -> list[Figure]:
    """A script's return value as figures: a list of `Figure`s or of dicts, or a dict holding
    `"figures"`."""
    if isinstance(value, Mapping):
        value = value.get("figures", [])
    if not isinstance(value, list | tuple):
        raise TypeError(f"run() must return a list of Figure, not {type(value).__name__}")
    return [f if isinstance(f, Figure) else Figure.from_dict(f) for f in value]
