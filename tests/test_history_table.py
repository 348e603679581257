"""The history of runs, two runs compared, and the history drawn."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from freqtrade_mem0.cli import cli
from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import NotFoundError, OperationalError
from freqtrade_mem0.history import compare_runs, history_figure, ingest, write_history_html
from freqtrade_mem0.history.table import CHANGE_METRICS, RUN_COLUMNS
from freqtrade_mem0.memory import Memory
from tests.history_helpers import CANDLES, OLD_MULTI, OLD_SINGLE, SHIPPED, SHORT, engine_history

V3 = "430d0271075ef327edbb23088f4db4ebe51a3dbf"
SAMPLE = "ffa70724303e99a4ec59591ea7e7ad2e264f6998"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    """The shipped files, ingested once for the tests that only read."""
    location = tmp_path_factory.mktemp("shipped") / "store"
    with Memory.open(str(location), settings=Settings(), embedder=HashingEmbedder()) as memory:
        ingest(memory, SHIPPED)
        yield memory


def test_history_has_a_row_per_strategy_run(shipped: Memory) -> None:
    runs = shipped.history()
    assert list(runs.columns) == [
        *RUN_COLUMNS,
        *(f"{m}_change" for m in CHANGE_METRICS),
        "changed",
    ]
    assert len(runs) == 4
    assert runs["when"].is_monotonic_increasing
    assert str(runs["when"].dt.tz) == "UTC"
    sample = runs[runs["strategy"] == "SampleStrategy"].iloc[0]
    assert sample["run_id"] == SAMPLE
    assert sample["trades"] == 100
    assert sample["profit"] == pytest.approx(1.23502)
    assert sample["win_rate"] == pytest.approx(0.88)
    assert sample["timerange"] == "20180111-20180130"
    assert pd.isna(sample["profit_change"])  # its first run
    assert list(shipped.history(strategy="SampleStrategy")["run_id"]) == [SAMPLE]
    assert set(shipped.history("strategy:StrategyTestV2 OR strategy:TestStrategy")["strategy"]) == {
        "StrategyTestV2",
        "TestStrategy",
    }
    assert shipped.history("strategy:Nobody").empty


def test_history_per_pair(shipped: Memory) -> None:
    pairs = shipped.history(strategy="SampleStrategy", per="pair")
    assert len(pairs) == 10
    assert pairs["trades"].sum() == 100
    eth = pairs[pairs["pair"] == "ETH/BTC"].iloc[0]
    assert (eth["trades"], eth["profit"]) == (12, 0.13)


@pytest.mark.slow
@pytest.mark.integration
def test_history_of_fresh_runs_shows_what_changed(
    tmp_path_factory: pytest.TempPathFactory, edge_memory: Memory
) -> None:
    engine = engine_history(tmp_path_factory.getbasetemp())
    ingest(edge_memory, [engine.results], every_run=True, notes="variants")
    runs = edge_memory.history(strategy="SampleStrategy")
    assert list(runs["run_id"]) == [run.run_ids["SampleStrategy"] for run in engine.runs]
    assert list(runs["changed"]) == ["", "config", "config,timerange"]
    assert list(runs["timerange"]) == [SHORT, SHORT, "20180121-20180130"]
    profits = [100 * run.stats()["profit_total"] for run in engine.runs]
    assert list(runs["profit_change"].iloc[1:]) == pytest.approx(
        [b - a for a, b in itertools.pairwise(profits)]
    )
    assert (runs["notes"] == "variants").all()
    assert runs["strategy_hash"].nunique() == 1  # the code never changed

    figure = history_figure(runs, edge_memory.history(strategy="SampleStrategy", per="pair"))
    heatmap = figure.data[-1]
    assert heatmap.type == "heatmap"
    assert len(heatmap.x) == 3  # a column per run, even two made in the same minute
    assert len(heatmap.y) == 10


def test_the_figure_draws_every_strategy_and_pair(shipped: Memory, tmp_path: Path) -> None:
    runs, pairs = shipped.history(), shipped.history(per="pair")
    figure = history_figure(runs, pairs)
    lines = [trace for trace in figure.data if trace.type == "scatter"]
    assert len(lines) == 3 * 4  # profit, win rate, drawdown for each strategy
    assert {t.name for t in lines} == set(runs["strategy"])
    heatmap = figure.data[-1]
    assert len(heatmap.x) == 4
    assert set(heatmap.y) == set(pairs["pair"])
    assert heatmap.zmid == 0
    sample = next(t for t in lines if t.name == "SampleStrategy")
    assert list(sample.y) == pytest.approx([1.23502])
    assert "trades 100" in sample.customdata[0]
    path = write_history_html(figure, tmp_path / "history.html")
    html = path.read_text()
    assert "plotly" in html
    assert "Profit per pair and run" in html
    assert path.stat().st_size > 1_000_000  # plotly.js inside: opens without a network


# --- comparing two runs ---------------------------------------------------------------------


def test_compare_two_runs(shipped: Memory) -> None:
    result = compare_runs(shipped, f"StrategyTestV3@{V3[:6]}", SAMPLE[:8])
    assert (result.a.strategy, result.b.strategy) == ("StrategyTestV3", "SampleStrategy")
    metrics = result.metrics
    assert metrics.loc["trades", "a"] == 179
    assert metrics.loc["trades", "b"] == 100
    assert metrics.loc["trades", "change"] == -79
    assert metrics.loc["trades", "better"] == ""
    assert metrics.loc["profit", "better"] == "a"
    assert metrics.loc["win_rate", "better"] == "b"
    assert metrics.loc["drawdown", "better"] == "a"  # less drawdown is better
    assert pd.isna(metrics.loc["sharpe", "a"])  # freqtrade 2024 did not report it
    assert len(result.pairs) == 10
    eth = result.pairs.loc["ETH/BTC"]
    assert (eth["trades_a"], eth["trades_b"]) == (21, 12)
    assert eth["profit_change"] == pytest.approx(0.13 - 1.25)
    assert set(result.enter_tags.index) == {"", "buy_tag"}
    assert result.runs.loc["run_id", "b"] == SAMPLE


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        (V3[:8], OperationalError, "matches 2 runs"),  # StrategyTestV2 and V3 share it
        ("deadbeef", NotFoundError, "no backtest run matches"),
        ("Nobody@" + V3, NotFoundError, "no backtest run matches"),
    ],
)
def test_run_references_must_name_one_run(
    shipped: Memory, ref: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        compare_runs(shipped, ref, SAMPLE)


def test_strategy_option_settles_a_shared_run_id(shipped: Memory) -> None:
    result = compare_runs(shipped, V3, V3, strategy="StrategyTestV2")
    assert result.a.strategy == result.b.strategy == "StrategyTestV2"
    assert (result.metrics["change"].dropna() == 0).all()
    by_id = compare_runs(shipped, result.a.id, SAMPLE)
    assert by_id.a.id == result.a.id


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    location = tmp_path_factory.mktemp("cli") / "store"
    _run(location, "ingest", OLD_SINGLE, OLD_MULTI, SHIPPED[2], "--datadir", CANDLES)
    return location


def _run(store: Path, *args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["--store", str(store), "--embedder", "hashing", *map(str, args)]
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_history_table_json_and_csv(store: Path, tmp_path: Path) -> None:
    code, out, _ = _run(store, "history")
    assert code == 0
    header, _rule, *rows = out.splitlines()
    assert header.split()[:4] == ["when", "(UTC)", "strategy", "run"]
    assert len(rows) == 4
    assert any("SampleStrategy" in r and "ffa70724" in r and "+1.24" in r for r in rows)

    code, out, _ = _run(store, "history", "--strategy", "SampleStrategy", "--json")
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == [SAMPLE]
    assert runs[0]["when"].startswith("2026-11-23T23:45:30")

    code, out, _ = _run(store, "history", "strategy:TestStrategy", "--csv", "-")
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame["strategy"]) == ["TestStrategy"]

    code, out, _ = _run(store, "history", "--strategy", "SampleStrategy", "--per-pair")
    assert len(out.splitlines()) == 2 + 10


def test_cli_history_plot(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "history.html"
    code, _, err = _run(store, "history", "--plot", target)
    assert code == 0
    assert f"wrote {target}" in err
    assert target.stat().st_size > 1_000_000


def test_cli_compare(store: Path) -> None:
    code, out, _ = _run(store, "compare", f"StrategyTestV3@{V3}", SAMPLE[:10])
    assert code == 0
    assert "metric" in out
    assert "ETH/BTC" in out
    code, out, _ = _run(store, "compare", f"StrategyTestV3@{V3}", SAMPLE, "--json")
    data = json.loads(out)
    assert data["metrics"]["trades"]["change"] == -79
    assert data["pairs"]["ETH/BTC"]["trades_b"] == 12
    code, _, err = _run(store, "compare", "nothing", SAMPLE)
    assert code == 3
    assert "no backtest run matches" in err
