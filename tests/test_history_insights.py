"""Insights: exact statistics, no findings where there is nothing, the planted ones found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from freqtrade_mem0.cli import cli
from freqtrade_mem0.history import InsightSettings, find_insights, ingest
from freqtrade_mem0.history.cells import trade_set
from freqtrade_mem0.history.insights import analyse
from freqtrade_mem0.history.statistics import (
    benjamini_hochberg,
    bootstrap_mean_interval,
    kmeans,
    permutation_pvalues,
)
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryKind, MemoryType
from tests.history_helpers import CANDLES, NEW_ZIP, synthetic_trades

FAST = InsightSettings(resamples=999)


# --- the statistics -------------------------------------------------------------------------


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(3).uniform(size=40) ** 3
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))
    assert benjamini_hochberg(np.array([])).size == 0


def test_permutation_pvalues_match_scipys_permutation_test() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(0.8, 1, 15), rng.normal(0, 1, 45)])
    cell = np.zeros(60, dtype=bool)
    cell[:15] = True

    def difference(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(x) - np.mean(y))

    reference = stats.permutation_test(
        (values[cell], values[~cell]), difference, n_resamples=20_000, random_state=1
    ).pvalue
    ours = permutation_pvalues(values, cell[None, :], resamples=20_000, seed=2)[0]
    assert ours == pytest.approx(reference, abs=0.01)
    assert 0 < ours < 0.05


def test_permutation_pvalues_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(11)
    masks = rng.uniform(size=(300, 80)) < 0.3
    values = rng.standard_t(3, size=80)  # fat tails, as trade profits have
    p = permutation_pvalues(values, masks, resamples=499, seed=5)
    assert 0.02 < (p < 0.05).mean() < 0.09
    assert 0.45 < p.mean() < 0.55


def test_bootstrap_interval_and_kmeans_are_seeded() -> None:
    values = np.random.default_rng(1).normal(1.0, 2.0, 200)
    low, high = bootstrap_mean_interval(values, seed=4)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_mean_interval(values, seed=4)
    points = np.concatenate([np.full((20, 2), -3.0), np.full((20, 2), 3.0)]) + 0.1
    labels, centroids = kmeans(points, 2, seed=9)
    assert sorted(np.bincount(labels)) == [20, 20]
    assert centroids[0][0] < centroids[1][0]  # numbered in centroid order


# --- honesty ---------------------------------------------------------------------------------


def test_nothing_is_found_where_there_is_nothing() -> None:
    """Random trades, 25 strategies: BH at 0.1 allows a false finding in at most ~10 % of them."""
    with_findings = 0
    tested = 0
    for seed in range(25):
        report = analyse(synthetic_trades(f"Null{seed}", 240, seed=seed), FAST)
        tested += len(report.cells)
        with_findings += bool(report.findings)
        assert all(report.cells["q_value"] >= report.cells["p_value"] - 1e-12)
    assert tested > 25 * 20
    assert with_findings <= 5


def test_planted_effects_are_found_and_described() -> None:
    records = synthetic_trades("Planted", 400, seed=1, effects={"BBB/BTC": -1.2}, rsi_effect=1.0)
    report = analyse(records, FAST, query="strategy:Planted")
    found = {f.data["cell"]: f for f in report.findings}
    assert "pair=BBB/BTC" in found
    assert any(name.startswith("rsi<=") for name in found)
    cells = report.cells.set_index("cell")
    assert cells.loc["pair=BBB/BTC", "direction"] == "worse"
    assert cells.loc["pair=BBB/BTC", "q_value"] < 0.1
    rsi_low = next(name for name in found if name.startswith("rsi<="))
    assert cells.loc[rsi_low, "direction"] == "better"
    # Besides the planted cells, only their mirrors: with BBB/BTC bad, the other pairs are
    # truly better than the strategy's average, and the upper thirds of rsi worse. No other
    # feature, whose values are pure noise here, gives a finding.
    for name, finding in found.items():
        family, direction = finding.data["family"], finding.tags[2]
        if family == "pair":
            assert direction == ("worse" if finding.pair == "BBB/BTC" else "better")
        elif family == "feature":
            assert finding.data["feature"] == "rsi"
            assert direction == ("better" if name.startswith("rsi<=") else "worse")
        else:
            assert family == "region"

    pair = found["pair=BBB/BTC"]
    assert pair.kind is MemoryKind.ANALYSIS
    assert pair.type is MemoryType.ANALYSIS
    assert pair.strategy == "Planted"
    assert pair.pair == "BBB/BTC"
    assert pair.timestamp == max(r.timestamp for r in records)  # known after the last trade
    assert pair.tags == ("insight", "pair", "worse")
    assert pair.metrics["q_value"] < 0.1
    assert pair.metrics["win_rate_low"] <= pair.metrics["win_rate"] <= pair.metrics["win_rate_high"]
    assert pair.metrics["profit_low"] <= pair.metrics["profit"] <= pair.metrics["profit_high"]
    assert pair.market is None
    assert "Planted did clearly worse than its average on trades on BBB/BTC" in pair.text
    assert pair.data["query"] == "strategy:Planted"
    feature = found[rsi_low]
    assert feature.market is not None  # the cell's mean fingerprint: searchable by market
    assert feature.data["feature"] == "rsi"
    assert "RSI" in feature.data["description"]
    # the same trades give the same findings under the same keys
    again = analyse(list(reversed(records)), FAST, query="strategy:Planted")
    assert sorted(f.key for f in again.findings) == sorted(f.key for f in report.findings)


def test_a_trade_counts_once() -> None:
    records = synthetic_trades("Twice", 50, seed=2)
    repeated = synthetic_trades("Twice", 50, seed=2, run_id="run-2")  # a rerun, same trades
    partial = records[0].model_copy(
        update={"key": "partial", "data": {**records[0].data, "partial_exit": 1}}
    )
    trades = trade_set([*records, *repeated, partial])
    assert trades.size == 50
    assert trades.has_market.all()


def test_too_few_trades_test_nothing() -> None:
    report = analyse(synthetic_trades("Tiny", 12, seed=0), FAST)
    assert report.trades == 12
    assert report.cells.empty
    assert report.findings == []


# --- against a store --------------------------------------------------------------------------


def test_findings_are_stored_once_and_recallable(edge_memory: Memory) -> None:
    planted = synthetic_trades("Planted", 400, seed=1, effects={"BBB/BTC": -1.2})
    edge_memory.remember(planted + synthetic_trades("Calm", 100, seed=3))
    reports = find_insights(edge_memory, settings=FAST)
    assert [r.strategy for r in reports] == ["Calm", "Planted"]
    stored = edge_memory.count("type:analysis AND tags:insight")
    assert stored == sum(len(r.findings) for r in reports) >= 1
    find_insights(edge_memory, settings=FAST)
    assert edge_memory.count("type:analysis AND tags:insight") == stored
    hits = edge_memory.search("strategy:Planted AND type:analysis AND pair:BBB/BTC")
    assert hits
    assert "worse" in hits[0].record.text
    # a narrower query is another population: its findings have other keys
    find_insights(edge_memory, "pair:BBB/BTC OR pair:AAA/BTC", strategy="Planted", settings=FAST)
    assert edge_memory.count("type:analysis") >= stored


def test_insights_on_the_shipped_run(edge_memory: Memory) -> None:
    ingest(edge_memory, [NEW_ZIP], datadir=CANDLES)
    (report,) = find_insights(edge_memory, strategy="SampleStrategy", settings=FAST, store=False)
    assert (report.trades, report.fingerprinted) == (100, 100)
    assert report.win_rate == pytest.approx(0.88)
    families = set(report.cells["family"])
    assert {"pair", "feature", "region"} <= families
    assert (report.cells["trades"] >= FAST.min_trades).all()
    assert ((report.cells["q_value"] < 0.1) == report.cells["finding"]).all()
    assert edge_memory.count("type:analysis") == 0


def test_cli_insights(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    runner = CliRunner()
    base = ["--store", store, "--embedder", "hashing"]
    assert (
        runner.invoke(cli, [*base, "ingest", str(NEW_ZIP), "--datadir", str(CANDLES)]).exit_code
        == 0
    )
    result = runner.invoke(cli, [*base, "insights", "--resamples", "999", "--all"])
    assert result.exit_code == 0, result.output
    assert "SampleStrategy: 100 trades (100 with market fingerprints)" in result.stdout
    assert "conditions tested" in result.stdout
    assert "pair=ETH/BTC" in result.stdout  # --all lists every condition
    result = runner.invoke(
        cli, [*base, "insights", "strategy:SampleStrategy", "--json", "--resamples", "999"]
    )
    data = json.loads(result.stdout)
    assert data[0]["strategy"] == "SampleStrategy"
    assert {"cell", "p_value", "q_value", "win_rate_low"} <= set(data[0]["cells"][0])
    result = runner.invoke(cli, [*base, "insights", "strategy:Nobody"])
    assert "no trade memories match" in result.stderr
