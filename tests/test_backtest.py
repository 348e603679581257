"""Offline backtests: static markets, freqtrade's real engine, the shipped example userdir."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from freqtrade.configuration import setup_utils_configuration
from freqtrade.data.btanalysis import load_backtest_stats
from freqtrade.enums import RunMode
from freqtrade.exchange import Exchange
from freqtrade.resolvers import ExchangeResolver

from freqtrade_mem0.backtest import (
    DEFAULT_MARKETS_FILE,
    EXAMPLE_PAIRS,
    BacktestRun,
    backtesting_main,
    build_markets,
    load_markets,
    lookahead_analysis_main,
    offline_markets,
    recursive_analysis_main,
    run_backtest,
    write_markets,
)
from freqtrade_mem0.errors import ConfigError
from tests.freqtrade_helpers import (
    COMPLETE_PAIRS,
    EXAMPLE_USERDIR,
    RECORDING_STRATEGY,
    REFERENCE_ZIP,
    REPO,
    TIMERANGE,
    copy_example_userdir,
    example_config,
    read_events,
    read_zip_json,
)


def _loader() -> Any:
    return Exchange.__dict__["_load_async_markets"]


FREQTRADES_LOADER = _loader()
assert FREQTRADES_LOADER.__module__ == "freqtrade.exchange.exchange"


@pytest.fixture
def userdir(tmp_path: Path) -> Path:
    return copy_example_userdir(tmp_path / "user_data")


# --- static markets -------------------------------------------------------------------------


def test_shipped_markets_are_the_builders_output() -> None:
    markets = load_markets()
    assert list(markets) == list(EXAMPLE_PAIRS)
    assert markets == build_markets(EXAMPLE_PAIRS, min_cost=0.0001)
    eth = markets["ETH/BTC"]
    assert (eth["id"], eth["base"], eth["quote"], eth["type"]) == ("ETHBTC", "ETH", "BTC", "spot")
    assert eth["spot"] is True
    assert eth["active"] is True
    assert eth["precision"]["amount"] == eth["precision"]["price"] == 1e-8
    assert (eth["taker"], eth["maker"]) == (0.001, 0.001)


def test_write_markets_round_trips(tmp_path: Path) -> None:
    path = write_markets(tmp_path / "m.json", ["SOL/USDT", "BTC/USDT"], min_cost=5.0)
    markets = load_markets(path)
    assert set(markets) == {"SOL/USDT", "BTC/USDT"}
    assert markets["SOL/USDT"]["id"] == "SOLUSDT"
    assert markets["SOL/USDT"]["limits"]["cost"]["min"] == 5.0


def test_markets_for_another_exchange_carry_its_fees() -> None:
    market = build_markets(["ETH/BTC"], "kraken", precision=1e-5)["ETH/BTC"]
    assert market["precision"]["amount"] == 1e-5
    assert market["taker"] == 0.0026  # kraken's base tier


@pytest.mark.parametrize("pair", ["ETHBTC", "ETH/", "/BTC", "BTC/USDT:USDT"])
def test_build_markets_refuses_non_spot_pairs(pair: str) -> None:
    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        build_markets([pair])


@pytest.mark.parametrize(
    ("exchange", "message"),
    [("nosuchexchange", "unknown ccxt exchange"), ("bitfinex", "tick sizes")],
)
def test_build_markets_refuses_unsuitable_exchanges(exchange: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_markets(["ETH/BTC"], exchange)


_ETH = json.loads(DEFAULT_MARKETS_FILE.read_text())["ETH/BTC"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "not readable JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        (json.dumps({"ETH/BTC": 1}), "'ETH/BTC' is not an object"),
        (json.dumps({"ETH/BTC": {k: v for k, v in _ETH.items() if k != "precision"}}), "lacks"),
        (json.dumps({"LTC/BTC": _ETH}), "key 'LTC/BTC' holds market 'ETH/BTC'"),
        (json.dumps({"ETH/BTC": {**_ETH, "limits": None}}), "must be objects"),
    ],
)
def test_bad_markets_file_is_a_clear_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "markets.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as raised, offline_markets(path):
        pytest.fail("the block must not run")
    assert str(path) in str(raised.value)
    assert _loader() is FREQTRADES_LOADER


def test_offline_markets_nests_and_restores() -> None:
    with offline_markets() as outer:
        patched = _loader()
        assert patched is not FREQTRADES_LOADER
        with offline_markets(build_markets(["SOL/USDT"])) as inner:
            assert list(inner) == ["SOL/USDT"]
            assert _loader() is not patched
        assert _loader() is patched
        assert list(outer) == list(EXAMPLE_PAIRS)
    assert _loader() is FREQTRADES_LOADER
    with pytest.raises(RuntimeError), offline_markets():
        raise RuntimeError("boom")
    assert _loader() is FREQTRADES_LOADER


def test_exchange_loads_static_markets(userdir: Path) -> None:
    args = {"config": [str(userdir / "config.json")], "user_data_dir": str(userdir)}
    config = setup_utils_configuration(args, RunMode.BACKTEST)
    with offline_markets():
        exchange = ExchangeResolver.load_exchange(config, load_leverage_tiers=True)
    try:
        assert type(exchange).__name__ == "Binance"
        assert list(exchange.markets) == list(EXAMPLE_PAIRS)
        assert exchange._api.markets is exchange._api_async.markets  # the sync API shares them
        assert exchange.get_quote_currencies() == ["BTC"]
        assert all(exchange.market_is_tradable(m) for m in exchange.markets.values())
        assert exchange.get_precision_amount("ETH/BTC") == 1e-8
        assert exchange.amount_to_precision("ETH/BTC", 0.123456789) == 0.12345678
        assert exchange.get_min_pair_stake_amount("ETH/BTC", 0.09, -0.1) == pytest.approx(
            0.0001 * 1.05 / 0.9, rel=1e-3
        )
    finally:
        exchange.close()


def test_example_userdir_ships_the_shared_data() -> None:
    shipped = sorted((EXAMPLE_USERDIR / "data" / "binance").glob("*.feather"))
    assert [p.name.split("-")[0].replace("_", "/") for p in shipped] == list(EXAMPLE_PAIRS)
    # The development machines keep the originals beside the repository.
    source = REPO.parent / "shared" / "data" / "ohlcv" / "binance"
    if not source.is_dir():
        pytest.skip("the original candle files are not on this machine")
    for path in shipped:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == hashlib.sha256((source / path.name).read_bytes()).hexdigest()


def test_backtesting_main_reports_freqtrade_errors(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    assert backtesting_main(["--config", missing, "--strategy", "SampleStrategy"]) == 2


def test_backtesting_main_reports_bad_markets(userdir: Path, tmp_path: Path) -> None:
    argv = ["--config", str(userdir / "config.json"), "--userdir", str(userdir)]
    assert backtesting_main(argv, markets=tmp_path / "missing.json") == 2


# --- the real engine ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_example_strategy_backtests_offline(userdir: Path) -> None:
    results_dir = userdir / "my_results"
    results_dir.mkdir()
    run = run_backtest(example_config(userdir, exportdirectory=str(results_dir)))

    stats = run.stats("SampleStrategy")
    assert 24 <= stats["total_trades"] <= 150
    assert run.config["backtest_cache"] == "none"
    assert run.config["runmode"] == RunMode.BACKTEST
    trades = run.trades()
    assert len(trades) == stats["total_trades"]
    assert str(trades["open_date"].dt.tz) == "UTC"
    assert set(trades["pair"]) <= set(EXAMPLE_PAIRS)
    # the file freqtrade wrote, where the config said, carrying the same run id
    assert run.result_file is not None
    assert run.result_file.parent == results_dir
    written = load_backtest_stats(run.result_file)
    assert written["metadata"]["SampleStrategy"]["run_id"] == run.run_ids["SampleStrategy"]
    assert written["strategy"]["SampleStrategy"]["total_trades"] == stats["total_trades"]
    assert _loader() is FREQTRADES_LOADER


@pytest.mark.slow
@pytest.mark.integration
def test_run_backtest_honours_cli_keys_and_export_none(userdir: Path, tmp_path: Path) -> None:
    elsewhere = Path(shutil.move(userdir / "data" / "binance", tmp_path / "candles"))
    config = example_config(
        userdir, export="none", timerange="20180120-20180125", datadir=str(elsewhere)
    )
    run = run_backtest(config)
    assert run.config["datadir"] == elsewhere
    assert run.result_file is None
    assert run.stats()["total_trades"] > 0
    assert not (userdir / "backtest_results").exists() or not any(
        (userdir / "backtest_results").iterdir()
    )


@pytest.mark.slow
@pytest.mark.integration
def test_backtesting_main_runs_freqtrades_cli(userdir: Path) -> None:
    calls: list[BacktestRun] = []
    argv = [
        "--config",
        str(userdir / "config.json"),
        "--userdir",
        str(userdir),
        "--strategy",
        "SampleStrategy",
        "--timerange",
        TIMERANGE,
        "--breakdown",
        "day",
    ]
    assert backtesting_main(argv, on_complete=calls.append) == 0

    assert len(calls) == 1
    results, config, run_ids = calls[0].results, calls[0].config, calls[0].run_ids
    assert config["backtest_cache"] == "none"
    assert config["datadir"] == userdir / "data" / "binance"
    # freqtrade's own reader finds the file through .last_result.json
    written = load_backtest_stats(userdir / "backtest_results")
    assert written["metadata"]["SampleStrategy"]["run_id"] == run_ids["SampleStrategy"]
    trades = results["strategy"]["SampleStrategy"]["total_trades"]
    assert trades > 0
    assert written["strategy"]["SampleStrategy"]["total_trades"] == trades


@pytest.mark.slow
@pytest.mark.integration
def test_lookahead_analysis_finds_no_bias_on_complete_pairs(userdir: Path) -> None:
    report = userdir / "lookahead.csv"
    argv = [
        "--config",
        str(userdir / "config.json"),
        "--userdir",
        str(userdir),
        "--strategy",
        "SampleStrategy",
        "--timerange",
        TIMERANGE,
        "--pairs",
        *COMPLETE_PAIRS,
        "--lookahead-analysis-exportfilename",
        str(report),
    ]
    assert lookahead_analysis_main(argv) == 0
    with report.open() as fp:
        (row,) = list(csv.DictReader(fp))
    assert row["strategy"] == "SampleStrategy"
    assert int(row["total_signals"]) > 0
    assert row["has_bias"] == "False"


@pytest.mark.slow
@pytest.mark.integration
def test_recursive_analysis_runs_offline(userdir: Path) -> None:
    argv = [
        "--config",
        str(userdir / "config.json"),
        "--userdir",
        str(userdir),
        "--strategy",
        "SampleStrategy",
        "--timerange",
        TIMERANGE,
        "--pairs",
        "ETH/BTC",
    ]
    assert recursive_analysis_main(argv) == 0


@pytest.mark.slow
@pytest.mark.integration
def test_callbacks_fire_and_see_the_result_files_run_id(userdir: Path) -> None:
    (userdir / "strategies" / "recording_strategy.py").write_text(RECORDING_STRATEGY)
    run = run_backtest(
        example_config(userdir, strategy="RecordingStrategy", timerange="20180120-20180125")
    )
    events = read_events(userdir)
    first = {}
    for event in events:
        first.setdefault(event["event"], event)
    run_id = run.run_ids["RecordingStrategy"]

    # __init__ runs before the engine settles the config; bot_start after, with the same run id
    # freqtrade writes into the result file, and the first bot_loop_start still sees it.
    assert first["init"]["startup_in_config"] is False
    assert first["bot_start"]["run_id"] == run_id
    assert first["bot_start"]["startup"] == 30
    assert first["bot_start"]["has_dp"] is True
    assert first["bot_start"]["runmode"] == "backtest"
    assert first["bot_start"]["cache"] == "none"
    assert first["bot_loop_start"]["run_id"] == run_id
    assert run.result_file is not None
    meta_file = run.result_file.with_name(f"{run.result_file.stem}.meta.json")
    assert json.loads(meta_file.read_text())["RecordingStrategy"]["run_id"] == run_id

    # what freqtrade hands the callbacks in a backtest
    assert first["bot_loop_start"]["kwargs"] == []
    # the simulated clock starts one candle after the timerange start (freqtrade's row is the
    # "current, incomplete" candle; its signals are shifted by one)
    assert first["bot_loop_start"]["current_time"] == "2018-01-20 00:05:00+00:00"
    assert first["confirm_trade_entry"]["kwargs"] == []
    assert first["confirm_trade_exit"]["kwargs"] == ["sell_reason"]
    fills = [e for e in events if e["event"] == "order_filled"]
    exits = [e for e in fills if e["side"] == "sell"]
    assert exits
    assert all(e["trade_is_open"] for e in exits)  # still open when its exit order fills
    assert len(exits) == run.stats()["total_trades"]


@pytest.mark.slow
@pytest.mark.integration
def test_reproduces_freqtrade_2026_9_reference_run(tmp_path: Path) -> None:
    """freqtrade 2026.9's SampleStrategy on the example data: the offline engine's 100 trades
    equal those of the reference run, and so does every statistic but the wall-clock ones."""
    if not REFERENCE_ZIP.is_file():
        pytest.skip("reference result not present")
    userdir = tmp_path / "ud"
    shutil.copytree(EXAMPLE_USERDIR / "data", userdir / "data")
    (userdir / "strategies").mkdir()
    stem = REFERENCE_ZIP.stem
    with zipfile.ZipFile(REFERENCE_ZIP) as archive:
        strategy_source = archive.read(f"{stem}_SampleStrategy.py")
    (userdir / "strategies" / "sample_strategy.py").write_bytes(strategy_source)
    config = read_zip_json(REFERENCE_ZIP, "_config.json")
    reference = read_zip_json(REFERENCE_ZIP)["strategy"]["SampleStrategy"]

    run = run_backtest(
        {
            **config,
            "strategy": "SampleStrategy",
            "timerange": TIMERANGE,
            "user_data_dir": str(userdir),
        }
    )

    assert run.result_file is not None
    ours = read_zip_json(run.result_file)["strategy"]["SampleStrategy"]
    assert ours["total_trades"] == reference["total_trades"] == 100
    assert ours["trades"] == reference["trades"]
    wall_clock = {"backtest_run_start_ts", "backtest_run_end_ts"}
    assert {k: v for k, v in ours.items() if k not in wall_clock} == {
        k: v for k, v in reference.items() if k not in wall_clock
    }
