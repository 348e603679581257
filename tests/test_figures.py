"""The docs' picture script draws from freqtrade's real per-strategy stats."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from freqtrade_mem0.history.results import read_result_file
from tests.conftest import REPO, TEST_DATA


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


def test_the_readme_shows_the_picture() -> None:
    assert (REPO / "docs" / "img" / "learning-vs-twin.png").is_file()
    assert "docs/img/learning-vs-twin.png" in (REPO / "README.md").read_text(encoding="utf-8")
