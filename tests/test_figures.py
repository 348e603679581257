"""The docs' picture script draws from freqtrade's real per-strategy stats and result files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from freqtrade_mem0.history.results import read_result_file
from tests.conftest import REPO, TEST_DATA
from tests.history_helpers import SHIPPED_RUNS


def figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("figures", REPO / "docs" / "figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_draws_cumulative_profit_from_a_real_result_file(tmp_path: Path) -> None:
    [zip_file] = (TEST_DATA / "backtest_results" / "freqtrade-2026.9").glob("*.zip")
    [run] = read_result_file(zip_file).runs
    times, running = figures().cumulative(run.stats["trades"])
    assert len(times) == len(run.trades) == 100
    assert times == sorted(times)
    assert abs(running[-1] - float(run.stats["profit_total_abs"])) < 1e-9

    png = figures().draw({run.strategy: run.stats}, tmp_path / "out.png", blocked=3)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_draws_the_history_of_the_shipped_result_files(tmp_path: Path) -> None:
    module = figures()
    runs, pairs = module.shipped_history()
    assert {(r.strategy, r.run_id): r.trades for r in runs.itertuples()} == SHIPPED_RUNS
    matrix = module.pair_matrix(runs, pairs)
    assert matrix.shape == (10, len(SHIPPED_RUNS))  # the ten pairs of every run
    assert matrix.notna().all().all()

    png = module.draw_history(runs, pairs, tmp_path / "history.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


@pytest.mark.parametrize(
    ("page", "reference"),
    [
        ("README.md", "docs/img/learning-vs-twin.png"),
        ("README.md", "docs/img/history.png"),
        ("docs/history.md", "img/history.png"),
    ],
)
def test_the_pages_show_the_pictures(page: str, reference: str) -> None:
    assert (REPO / page).parent.joinpath(reference).is_file()
    assert f"]({reference})" in (REPO / page).read_text(encoding="utf-8")
