"""`freqtrade-mem0 recall`: the report, its JSON, and its chart."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from freqtrade_mem0.cli import cli
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.recall.plots import recall_figure
from freqtrade_mem0.recall.report import recall_at
from tests.factories import trade


def store_of_trades(tmp_path: Path) -> list[str]:
    store = tmp_path / "store"
    with Memory.open(str(store), embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(90)])
    return ["--store", str(store), "--embedder", "hashing"]


def test_recall_reports_prints_json_and_draws(tmp_path: Path) -> None:
    base = store_of_trades(tmp_path)
    command = [*base, "recall", "--strategy", "Alpha", "--pair", "ETH/BTC", "-k", "20"]
    runner = CliRunner()
    chart = tmp_path / "recall.html"

    report = runner.invoke(cli, [*command, "--at", "2024-01-05T00:00Z", "--plot", str(chart)])
    assert report.exit_code == 0, report.output
    assert "Recall for Alpha on ETH/BTC:" in report.output
    as_json = runner.invoke(cli, [*command, "--at", "2024-01-05T00:00Z", "--json"])
    result = json.loads(as_json.output)
    assert result["n"] == len(result["neighbours"]) > 0
    assert all(n["time"] < "2024-01-05" for n in result["neighbours"])  # nothing from later

    page = chart.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # offline: plotly.js is inside, no CDN
    assert len(page) > 1_000_000
    assert "Recall for Alpha on ETH\\u002fBTC" in page  # plotly escapes "/" in its JSON
    assert f"{result['n']} similar past trades" in page
    won, lost, rates = plotted(page)
    profits = sorted(n["profit"] for n in result["neighbours"])
    assert sorted([*won["y"], *lost["y"]]) == pytest.approx(profits)
    assert rates["y"][0] == pytest.approx(100 * result["win_rate"])


def plotted(page: str) -> list[dict[str, Any]]:
    """The traces a plotly HTML page draws: the JSON array after the div id in `newPlot`."""
    start = page.index("[", page.index("Plotly.newPlot("))
    traces, _ = json.JSONDecoder().raw_decode(page, start)
    return list(traces)


def test_the_chart_draws_every_neighbour(tmp_path: Path) -> None:
    store_of_trades(tmp_path)
    with Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder()) as memory:
        result = recall_at(
            memory, strategy="Alpha", pair="ETH/BTC", at=datetime(2024, 1, 5, tzinfo=UTC)
        )
    figure = recall_figure(result, title="t")
    won, lost, rates = figure.data
    assert sorted([*won.y, *lost.y]) == sorted(n.profit for n in result.neighbours)
    assert all(p > 0 for p in won.y) and all(p <= 0 for p in lost.y)
    assert list(rates.x) == ["raw", "shrunk", "strategy"]
    assert rates.y[0] == 100 * result.win_rate
    low, high = rates.error_y.arrayminus[0], rates.error_y.array[0]
    assert rates.y[0] - low == pytest.approx(100 * result.win_rate_low)
    assert rates.y[0] + high == pytest.approx(100 * result.win_rate_high)


def test_a_bad_time_is_named(tmp_path: Path) -> None:
    base = store_of_trades(tmp_path)
    bad = CliRunner().invoke(
        cli, [*base, "recall", "--strategy", "Alpha", "--pair", "ETH/BTC", "--at", "yesterday"]
    )
    assert bad.exit_code == 2 and "not an ISO-8601 time" in bad.output
