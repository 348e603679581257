"""Helpers for tests that drive freqtrade's real engine on the shipped example userdir."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_USERDIR = REPO / "user_data_examples"
# Real freqtrade result files shipped with the tests (see tests/data/README.md).
TEST_DATA = REPO / "tests" / "data"
REFERENCE_ZIP = (
    TEST_DATA / "backtest_results" / "freqtrade-2026.9" / "backtest-result-2026-11-23_23-45-31.zip"
)
TIMERANGE = "20180111-20180130"
# Pairs without gaps in the example data: freqtrade's lookahead analysis is exact on these.
COMPLETE_PAIRS = ("ETH/BTC", "LTC/BTC")

# A strategy that writes down, as JSON lines, what freqtrade hands its callbacks in a backtest.
RECORDING_STRATEGY = """
import json
from pathlib import Path

import talib.abstract as ta
from freqtrade.optimize.backtest_caching import get_strategy_run_id
from freqtrade.strategy import IStrategy


class RecordingStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.02}
    stoploss = -0.05
    startup_candle_count = 30

    def __init__(self, config):
        super().__init__(config)
        self._log = Path(config["user_data_dir"]) / "callbacks.jsonl"
        self._loops = 0
        self._write("init", startup_in_config="startup_candle_count" in config)

    def _write(self, event, **fields):
        with self._log.open("a") as fp:
            fp.write(json.dumps({"event": event, **fields}, default=str) + "\\n")

    def bot_start(self, **kwargs):
        self._write(
            "bot_start", kwargs=sorted(kwargs), run_id=get_strategy_run_id(self),
            runmode=str(self.config["runmode"]), cache=self.config.get("backtest_cache"),
            startup=self.config.get("startup_candle_count"), has_dp=self.dp is not None,
        )

    def bot_loop_start(self, current_time, **kwargs):
        self._loops += 1
        if self._loops == 1:
            self._write(
                "bot_loop_start", kwargs=sorted(kwargs), run_id=get_strategy_run_id(self),
                current_time=current_time,
            )

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time,
                            entry_tag, side, **kwargs):
        self._write("confirm_trade_entry", kwargs=sorted(kwargs), loops=self._loops)
        return True

    def order_filled(self, pair, trade, order, current_time, **kwargs):
        self._write("order_filled", kwargs=sorted(kwargs), side=order.ft_order_side,
                    trade_is_open=trade.is_open, loops=self._loops)

    def confirm_trade_exit(self, pair, trade, order_type, amount, rate, time_in_force,
                           exit_reason, current_time, **kwargs):
        self._write("confirm_trade_exit", kwargs=sorted(kwargs), exit_reason=exit_reason)
        return True

    def populate_indicators(self, dataframe, metadata):
        dataframe["rsi"] = ta.RSI(dataframe)
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["rsi"] < 25, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["rsi"] > 75, "exit_long"] = 1
        return dataframe
"""


def copy_example_userdir(target: Path) -> Path:
    """A private copy of the shipped example userdir (strategies, data, config)."""
    return Path(
        shutil.copytree(
            EXAMPLE_USERDIR,
            target,
            ignore=shutil.ignore_patterns("backtest_results", "mem0", "mem0-outbox", "logs"),
        )
    )


def example_config(userdir: Path, **overrides: Any) -> dict[str, Any]:
    """The example config.json pointed at `userdir`, with the example strategy and timerange."""
    config: dict[str, Any] = json.loads((userdir / "config.json").read_text())
    config.update(strategy="SampleStrategy", timerange=TIMERANGE, user_data_dir=str(userdir))
    config.update(overrides)
    return config


def read_zip_json(path: Path, suffix: str = ".json") -> Any:
    """A JSON member of a freqtrade result zip (`.json`: the stats, `_config.json`: the config).

    Parsed with the standard library, which keeps every float's last digit; freqtrade's own
    loader (rapidjson) may round the last one, so compare files read the same way.
    """
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(f"{path.stem}{suffix}"))


def read_events(userdir: Path) -> list[dict[str, Any]]:
    """What `RECORDING_STRATEGY` wrote."""
    lines = (userdir / "callbacks.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
