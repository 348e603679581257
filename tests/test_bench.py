"""The bench harness: the figure schema, the table, discovery, and failures kept in the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run_all
from bench.common import (
    Figure,
    Latency,
    ScriptResult,
    coerce_figures,
    comparison,
    figures_table,
    percentile,
    samples,
)


def test_ratio_and_target_follow_the_direction() -> None:
    latency = Figure("search p50", "ms", 2.0, target=3.0, peer="peer", peer_value=8.0)
    assert latency.ratio == 0.25
    assert latency.met is True
    assert comparison(latency) == "0.25 (4× faster)"
    throughput = Figure("upsert", "points/s", 500.0, better="higher", target=1000.0, peer_value=250)
    assert throughput.met is False
    assert comparison(throughput) == "2 (2× faster)"
    assert Figure("x", "ms", 1.0).ratio is None
    assert Figure("x", "ms", 1.0).met is None


def test_figures_round_trip_through_json() -> None:
    figure = Figure("a", "s", 1.5, target=2.0, peer="floor", peer_value=0.5, note="n")
    data = json.loads(json.dumps(figure.to_dict()))
    assert data["ratio"] == 3.0
    assert data["met"] is True
    assert Figure.from_dict(data) == figure
    assert coerce_figures({"figures": [data]}) == [figure]
    with pytest.raises(TypeError):
        coerce_figures("nope")


def test_table_has_a_row_per_figure() -> None:
    table = figures_table(
        [Figure("a", "ms", 1.0, target=0.5, peer="p", peer_value=2.0), Figure("b", "s", 3.0)]
    )
    lines = table.splitlines()
    assert lines[0].startswith("| figure | target | measured")
    assert lines[2] == "| a | ≤ 0.5 ms | 1 ms | p: 2 ms | 0.5 (2× faster) | **no** |"
    assert lines[3] == "| b |  | 3 s |  |  |  |"


def test_timing_helpers() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0], 100) == 2.0
    calls = samples(lambda: None, 5, warmup=0)
    assert len(calls) == 5
    capped = samples(lambda: sum(range(10_000)), 10_000, max_seconds=0.0, min_n=3)
    assert len(capped) == 3
    latency = Latency.of([0.001, 0.002, 0.003])
    assert latency.p50 == pytest.approx(2.0)
    assert latency.n == 3


def test_discovery_reads_scripts_without_importing_them(tmp_path: Path) -> None:
    (tmp_path / "fast.py").write_text(
        '"""Fast thing.\n\nMore."""\nBUDGET_SECONDS = 12\n\n\n'
        "def run(quick=False):\n    return []\n"
    )
    (tmp_path / "helper.py").write_text("import does_not_exist\n")
    (tmp_path / "common.py").write_text("def run(): ...\n")
    (tmp_path / "_private.py").write_text("def run(): ...\n")
    found = run_all.discover(tmp_path)
    assert [(s.name, s.budget, s.description) for s in found] == [("fast", 12.0, "Fast thing.")]
    names = {s.name for s in run_all.discover()}
    assert {"stores", "embedding"} <= names


def test_failures_are_rendered_not_fatal(tmp_path: Path) -> None:
    results = {
        "ok": ScriptResult(
            "ok",
            "ok",
            1.0,
            False,
            "2026-01-01T00:00:00+00:00",
            "Fine.",
            "",
            1.0,
            1.2,
            [Figure("a", "ms", 1.0)],
        ),
        "bad": ScriptResult(
            "bad",
            "failed",
            0.1,
            False,
            "2026-01-01T00:00:00+00:00",
            "Broken.",
            "RuntimeError: boom | pipe",
        ),
    }
    md_path, json_path = run_all.write(results, tmp_path, "results")
    text = md_path.read_text()
    assert "| [bad](#bad) | failed: RuntimeError: boom / pipe |" in text
    assert "No figures: failed: RuntimeError: boom | pipe." in text
    assert "## ok" in text and "| a |" in text
    reloaded = run_all.load_previous(json_path)
    assert reloaded["ok"].figures == results["ok"].figures
    assert reloaded["bad"].error == "RuntimeError: boom | pipe"
