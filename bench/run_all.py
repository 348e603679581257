"""Run every bench script and write `bench/results.md` and `bench/results.json`.

    python -m bench.run_all                  # every script (what `make bench` runs)
    python -m bench.run_all --quick          # small sizes, to bench/results-quick.*
    python -m bench.run_all --only stores,embedding

A bench script is any `bench/<name>.py` (not `common`, `run_all` or `_*`) with a top-level
`run(quick: bool = False)`. Each runs in its own subprocess, so one script's imports, threads
and memory cannot skew the next, under a time budget: its `BUDGET_SECONDS` (default 90), cut
to what is left of the whole run's `--budget`. A script that fails or runs out of time is
reported in the table with its error; the others still run. Results of scripts not run this
time are kept from the previous results file, each with its own date.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import ScriptResult, coerce_figures, figures_table, fmt

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
NOT_SCRIPTS = {"__init__", "common", "run_all"}
DEFAULT_BUDGET = 90.0
TOTAL_BUDGET = 720.0  # `make bench` stays under 12 minutes
SCHEMA = 1
VERSIONS = (
    "qdrant-edge-py",
    "qdrant-client",
    "mem0ai",
    "sentence-transformers",
    "torch",
    "numpy",
    "freqtrade",
)


@dataclass(frozen=True)
class Script:
    """A bench script found in `bench/`."""

    name: str
    path: Path
    budget: float
    description: str


def discover(directory: Path = BENCH_DIR) -> list[Script]:
    """Bench scripts in a folder, by name, read without importing them."""
    found = []
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        if name in NOT_SCRIPTS or name.startswith("_"):
            continue
        module = ast.parse(path.read_text(encoding="utf-8"))
        if not any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in module.body):
            continue
        found.append(Script(name, path, _budget(module), _summary(module)))
    return found


def _budget(module: ast.Module) -> float:
    for node in module.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = node.value
            if (
                "BUDGET_SECONDS" in names
                and isinstance(value, ast.Constant)
                and isinstance(value.value, int | float)
            ):
                return float(value.value)
    return DEFAULT_BUDGET


def _summary(module: ast.Module) -> str:
    """The first paragraph of the module docstring, on one line."""
    doc = ast.get_docstring(module) or ""
    return " ".join(doc.split("\n\n")[0].split())


# -- running one script ---------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a script: offline, no telemetry, quiet tokenizers."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MEM0_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_script(script: Script, *, quick: bool, budget: float) -> ScriptResult:
    """Run one script in a subprocess, relaying its progress, within `budget` seconds."""
    load = load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "bench.run_all", "--child", script.name]
        command += ["--result", str(result_path)] + (["--quick"] if quick else [])
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends all of it
        )
        tail: deque[str] = deque(maxlen=30)
        relay = threading.Thread(target=_relay, args=(proc, script.name, tail), daemon=True)
        relay.start()
        status: Any = "ok"
        error = ""
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status, error = "timeout", f"no result within its budget of {budget:.0f} s"
        relay.join(timeout=5)
        seconds = time.perf_counter() - started
        figures = []
        if status == "ok":
            if proc.returncode == 0 and result_path.exists():
                figures = coerce_figures(json.loads(result_path.read_text())["figures"])
            else:
                status = "failed"
                error = _last_error(tail) or f"exit code {proc.returncode}"
    return ScriptResult(
        script=script.name,
        status=status,
        seconds=round(seconds, 1),
        quick=quick,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        description=script.description,
        error=error,
        load=load,
        load_end=load_average(),
        figures=figures,
    )


def load_average() -> float | None:
    """The 1-minute load average: above the core count, other work competed for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _relay(proc: subprocess.Popen[str], name: str, tail: deque[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail.append(line)
        print(f"  [{name}] {line}", flush=True)


def _last_error(lines: deque[str]) -> str:
    """The exception line of a traceback, if the output ends with one."""
    for line in reversed(lines):
        if line and not line.startswith(" ") and ("Error" in line or "Exception" in line):
            return line
    return lines[-1] if lines else ""


def child(name: str, result: Path, quick: bool) -> int:
    """Inside the subprocess: import the script, run it, write its figures."""
    module = importlib.import_module(f"bench.{name}")
    figures = coerce_figures(module.run(quick=quick))
    result.write_text(json.dumps({"figures": [f.to_dict() for f in figures]}))
    return 0


# -- writing the results --------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in VERSIONS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def load_previous(path: Path) -> dict[str, ScriptResult]:
    """Script results of an earlier run (empty when there is none or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("schema") != SCHEMA:
        return {}
    return {name: ScriptResult.from_dict(r) for name, r in data.get("scripts", {}).items()}


def render(results: dict[str, ScriptResult], info: dict[str, Any]) -> str:
    """results.md: how it was measured, a status line per script, a table per script."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run_all`); do not edit by hand. Every figure "
        "and its peer or floor were measured in the same run on the same machine:",
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['system']}; "
        f"{versions}.",
        "",
        "*ratio to peer* is measured / peer: below 1 means a lower number than the peer's "
        "(for a latency: faster), above 1 a higher one (for a throughput: faster). *load* is "
        f"the 1-minute load average when the script started and ended: above {info['cores']}, "
        "other work competed for the CPU, and absolute numbers suffer more than ratios.",
        "",
        "| script | status | finished | seconds | load | mode |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in sorted(results.items()):
        status = r.status if not r.error else f"{r.status}: {r.error.replace('|', '/')}"
        mode = "quick" if r.quick else "full"
        out.append(
            f"| [{name}](#{name}) | {status} | {r.finished_at} | {fmt(r.seconds)} "
            f"| {fmt(r.load)} → {fmt(r.load_end)} | {mode} |"
        )
    for name, r in sorted(results.items()):
        out += ["", f"## {name}", ""]
        if r.description:
            out += [r.description, ""]
        if r.figures:
            out.append(figures_table(r.figures))
            notes = [(f.name, f.note) for f in r.figures if f.note]
            if notes:
                out += ["", *(f"- *{n}*: {note}" for n, note in notes)]
        else:
            out.append(f"No figures: {r.status}{': ' + r.error if r.error else ''}.")
    return "\n".join(out) + "\n"


def write(results: dict[str, ScriptResult], out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md`."""
    info = machine()
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    payload = {
        "schema": SCHEMA,
        "machine": info,
        "scripts": {name: r.to_dict() for name, r in sorted(results.items())},
    }
    json_path.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    md_path.write_text(render(results, info))
    return md_path, json_path


# -- the command ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, results-quick.*")
    parser.add_argument("--only", help="comma-separated script names (default: all)")
    parser.add_argument("--budget", type=float, default=TOTAL_BUDGET, help="seconds in all")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="folder of the results")
    parser.add_argument("--list", action="store_true", help="list the scripts and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.result, args.quick)

    scripts = discover()
    if args.list:
        for s in scripts:
            print(f"{s.name:12} budget {s.budget:4.0f} s  {s.description}")
        return 0
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            parser.error(f"no bench script named {', '.join(sorted(unknown))}")
        scripts = [s for s in scripts if s.name in wanted]

    stem = "results-quick" if args.quick else "results"
    previous = load_previous(args.out / f"{stem}.json")
    known = {s.name for s in discover()}
    results = {name: r for name, r in previous.items() if name in known}
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    print(f"bench: {len(scripts)} script(s), {mode} mode, {args.budget:.0f} s in all", flush=True)
    for index, script in enumerate(scripts, start=1):
        left = args.budget - (time.perf_counter() - started)
        budget = min(script.budget, left)
        print(f"[{index}/{len(scripts)}] {script.name} (budget {budget:.0f} s)", flush=True)
        if left < 5:
            result = ScriptResult(
                script.name,
                "timeout",
                0.0,
                args.quick,
                datetime.now(UTC).isoformat(timespec="seconds"),
                script.description,
                "not run: the whole run's budget was spent",
            )
        else:
            result = run_script(script, quick=args.quick, budget=budget)
        results[script.name] = result
        line = f"[{index}/{len(scripts)}] {script.name}: {result.status} in {result.seconds} s"
        print(line + (f" ({result.error})" if result.error else ""), flush=True)
        write(results, args.out, stem)  # after each script: an interrupted run keeps its results
    md_path, json_path = write(results, args.out, stem)
    total = time.perf_counter() - started
    print(f"bench: done in {total:.0f} s; wrote {md_path} and {json_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
