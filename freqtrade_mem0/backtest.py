"""Run freqtrade's own backtesting engine offline, and capture what it produced.

freqtrade loads an exchange's markets over the network before every backtest; `offline_markets`
serves them from a static file by replacing `Exchange._load_async_markets`, and nothing else.

    run = run_backtest({**config, "strategy": "SampleStrategy", "timerange": "20180111-20180130"})
    run.trades()                                  # one row per trade, as freqtrade reports it

`backtesting_main`, `lookahead_analysis_main` and `recursive_analysis_main` take exactly the
arguments of freqtrade's subcommands. Backtests run with freqtrade's result cache off unless asked
for (`--cache`, or `backtest_cache` in the config): a cached rerun fires no strategy callbacks.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from freqtrade_mem0.errors import ConfigError, OperationalError

logger = logging.getLogger(__name__)

#: The ten BTC-quoted spot pairs of the shipped example data.
EXAMPLE_PAIRS: tuple[str, ...] = tuple(
    f"{base}/BTC"
    for base in ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")
)
#: Static binance spot markets for `EXAMPLE_PAIRS`, shipped with the package.
DEFAULT_MARKETS_FILE = Path(__file__).with_name("data") / "markets_binance_spot.json"

# freqtrade reads these from every market it trades (validation, precision, stake limits, fees).
_REQUIRED_KEYS = ("id", "symbol", "base", "quote", "type", "spot", "active", "precision", "limits")
# The one method replaced; named once so the patch and its undo cannot drift apart.
_PATCHED_METHOD = "_load_async_markets"
# CLI options that freqtrade reads only from the command line, never from a config file.
_CLI_ONLY_KEYS = ("datadir", "user_data_dir", "exportfilename", "exportdirectory")
# Keys freqtrade derives while loading a config; a processed config is loaded afresh without them.
_DERIVED_KEYS = ("original_config", "config_files")


def build_markets(
    pairs: Iterable[str],
    exchange: str = "binance",
    *,
    precision: float = 1e-8,
    min_cost: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Build static spot markets in ccxt's market structure, as freqtrade reads them.

    Args:
        pairs: spot pairs such as ``"ETH/BTC"``.
        exchange: ccxt exchange id (one that counts precision in tick sizes, as nearly all do);
            supplies the market layout and trading fees.
        precision: amount and price step (``1e-8``: one satoshi).
        min_cost: smallest order value in the quote currency, or None for no minimum.

    Returns:
        Markets keyed by symbol, ready for `offline_markets` or `write_markets`.

    Raises:
        ConfigError: an unknown or unsuitable exchange, or a pair that is not ``BASE/QUOTE``.
    """
    import ccxt  # type: ignore[import-untyped]

    if exchange not in ccxt.exchanges:
        raise ConfigError(f"unknown ccxt exchange {exchange!r}")
    api = getattr(ccxt, exchange)()
    if api.precisionMode != ccxt.TICK_SIZE:
        # A step size is meaningless where precision counts significant digits (bitfinex).
        raise ConfigError(f"{exchange} does not count precision in tick sizes")
    markets: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        base, sep, quote = pair.partition("/")
        if not sep or not base or not quote or ":" in quote:
            raise ConfigError(f"{pair!r} is not a spot pair of the form BASE/QUOTE")
        market_id = f"{base}{quote}"
        # The exchange's default trading fees, merged in as ccxt's own load_markets does.
        market = api.safe_market_structure({"id": market_id, "symbol": pair})
        market.update(deepcopy(api.fees.get("trading", {})))
        market.update(dict.fromkeys(("margin", "swap", "future", "option", "contract"), False))
        market.update(type="spot", spot=True, active=True, base=base, quote=quote, info={})
        market.update(baseId=base, quoteId=quote, lowercaseId=market_id.lower())
        market["precision"].update(dict.fromkeys(("amount", "price", "base", "quote"), precision))
        market["limits"]["amount"]["min"] = precision
        market["limits"]["cost"]["min"] = min_cost
        markets[pair] = market
    return markets


def write_markets(
    path: str | Path, pairs: Iterable[str], exchange: str = "binance", **options: Any
) -> Path:
    """Write static markets for `pairs` to a JSON file that `offline_markets` accepts.

    Args:
        path: the file to write.
        pairs: spot pairs such as ``"ETH/BTC"``.
        exchange: ccxt exchange id, as in `build_markets`.
        **options: `precision` and `min_cost`, as in `build_markets`.

    Returns:
        The path written.
    """
    target = Path(path)
    markets = build_markets(pairs, exchange, **options)
    target.write_text(json.dumps(markets, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def load_markets(source: Mapping[str, Any] | str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Read and check static markets.

    Args:
        source: markets keyed by symbol, a JSON file of them, or None for the shipped
            binance spot markets of `EXAMPLE_PAIRS`.

    Returns:
        A private copy of the markets, keyed by symbol.

    Raises:
        ConfigError: the file is missing or not JSON, or a market lacks what freqtrade reads.
    """
    origin = "markets"
    if source is None or isinstance(source, str | Path):
        path = Path(source) if source is not None else DEFAULT_MARKETS_FILE
        origin = f"markets file {path}"
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{origin} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{origin} is not readable JSON: {exc}") from exc
    else:
        data = deepcopy(dict(source))
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{origin}: expected a non-empty JSON object of markets keyed by symbol")
    for symbol, market in data.items():
        if not isinstance(market, dict):
            raise ConfigError(f"{origin}: market {symbol!r} is not an object")
        missing = [key for key in _REQUIRED_KEYS if key not in market]
        if missing:
            raise ConfigError(f"{origin}: market {symbol!r} lacks {', '.join(missing)}")
        if market["symbol"] != symbol:
            raise ConfigError(f"{origin}: key {symbol!r} holds market {market['symbol']!r}")
        if not isinstance(market["precision"], dict) or not isinstance(market["limits"], dict):
            raise ConfigError(f"{origin}: market {symbol!r}: precision and limits must be objects")
    return data


@contextmanager
def offline_markets(
    markets: Mapping[str, Any] | str | Path | None = None,
) -> Iterator[dict[str, dict[str, Any]]]:
    """Serve exchange markets from static data instead of the network.

    Inside the block every freqtrade `Exchange` (any subclass) loads `markets` where it would
    call the exchange's API; everything else in freqtrade runs unchanged. Blocks nest: the
    innermost markets win, and each exit restores what was there before. The patch is
    process-wide, so do not run online and offline exchanges side by side in threads.

    Args:
        markets: as `load_markets` takes them; None for the shipped binance spot markets.

    Yields:
        The markets being served.

    Raises:
        ConfigError: the markets are unreadable or incomplete (raised before anything is patched).
    """
    from freqtrade.exchange import Exchange

    static = load_markets(markets)

    def load_static_markets(self: Exchange, reload: bool = False) -> None:
        # ccxt's own set_markets builds symbols, ids and currencies as load_markets would;
        # a copy per exchange keeps one run's exchange from mutating the next one's markets.
        self._api_async.set_markets(deepcopy(static))

    previous = Exchange.__dict__[_PATCHED_METHOD]
    setattr(Exchange, _PATCHED_METHOD, load_static_markets)
    try:
        yield static
    finally:
        setattr(Exchange, _PATCHED_METHOD, previous)


@dataclass(frozen=True)
class BacktestRun:
    """What one backtest produced.

    Attributes:
        results: freqtrade's results dict (``Backtesting.results``): ``metadata``, ``strategy``
            (per-strategy stats, each with its ``trades``) and ``strategy_comparison``.
        run_ids: freqtrade's run id per strategy name, as written into the result file.
        config: the final configuration the engine ran with.
        result_file: the result zip freqtrade wrote, or None when nothing was exported.
        instances: the strategy objects that ran, by name (what they counted is readable).
    """

    results: dict[str, Any]
    run_ids: dict[str, str]
    config: dict[str, Any] = field(repr=False)
    result_file: Path | None = None
    instances: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def strategies(self) -> list[str]:
        """Names of the strategies that have results."""
        return list(self.results.get("strategy", {}))

    def stats(self, strategy: str | None = None) -> dict[str, Any]:
        """One strategy's stats; `strategy` may be omitted when the run has only one."""
        names = self.strategies
        if strategy is None:
            if len(names) != 1:
                raise ValueError(f"name one strategy of {names}")
            strategy = names[0]
        if strategy not in names:
            raise ValueError(f"no results for strategy {strategy!r}; have {names}")
        stats: dict[str, Any] = self.results["strategy"][strategy]
        return stats

    def trades(self, strategy: str | None = None) -> pd.DataFrame:
        """One strategy's trades, a row each, with UTC datetimes in ``open_date``/``close_date``.

        The same frame `freqtrade.data.btanalysis.load_backtest_data` reads from the result file.
        """
        frame = pd.DataFrame(self.stats(strategy)["trades"])
        if frame.empty:
            return frame
        for column in ("open_date", "close_date"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame.sort_values("open_date").reset_index(drop=True)


def run_backtest(
    config: Mapping[str, Any], *, markets: Mapping[str, Any] | str | Path | None = None
) -> BacktestRun:
    """Run one freqtrade backtest offline, as ``freqtrade backtesting`` would.

    The dict is loaded like a config file through freqtrade's own configuration pipeline (schema
    defaults, validation, directories). Keys that freqtrade otherwise takes only from the command
    line (`user_data_dir`, `datadir`, `exportfilename`, `exportdirectory`) are honoured too, and
    so are the backtesting options a config may carry (`strategy`, `timerange`, `export`...).

    Args:
        config: a freqtrade configuration; it is not modified.
        markets: static markets as `offline_markets` takes them; None for the shipped ones.

    Returns:
        The run's results, run ids, final config and result file.

    Raises:
        ConfigError: unreadable markets.
        freqtrade.exceptions.OperationalException: what freqtrade raises for a bad config,
            a missing strategy or missing data.
    """
    from freqtrade.commands.optimize_commands import setup_optimize_configuration
    from freqtrade.enums import RunMode

    raw = {key: value for key, value in config.items() if key not in _DERIVED_KEYS}
    args: dict[str, Any] = {key: str(raw[key]) for key in _CLI_ONLY_KEYS if raw.get(key)}
    args["backtest_cache"] = raw.get("backtest_cache", "none")
    with tempfile.TemporaryDirectory(prefix="freqtrade-mem0-") as tmp:
        config_file = Path(tmp) / "config.json"
        config_file.write_text(json.dumps(raw, default=str), encoding="utf-8")
        args["config"] = [str(config_file)]
        final = setup_optimize_configuration(args, RunMode.BACKTEST)
    # The temporary file is an implementation detail: record the caller's files instead.
    files = list(config.get("config_files", []))
    final["config_files"] = files
    final["original_config"]["config_files"] = files
    return _run_engine(final, markets)


def backtesting_main(
    argv: list[str],
    on_complete: Callable[[BacktestRun], None] | None = None,
    *,
    markets: Mapping[str, Any] | str | Path | None = None,
) -> int:
    """``freqtrade backtesting`` with static markets.

    Args:
        argv: the arguments after ``backtesting``, exactly as freqtrade takes them.
        on_complete: called with the `BacktestRun` once the engine has finished.
        markets: static markets as `offline_markets` takes them; None for the shipped ones.

    Returns:
        0 on success, 2 when freqtrade refused the run (its message is logged), 130 when
        interrupted: freqtrade's own exit codes. ``--help`` and bad arguments exit as in argparse.
    """
    from freqtrade.commands.arguments import Arguments
    from freqtrade.commands.optimize_commands import setup_optimize_configuration
    from freqtrade.enums import RunMode

    args = Arguments(["backtesting", *argv]).get_parsed_arg()
    if not any(arg == "--cache" or arg.startswith("--cache=") for arg in argv):
        args["backtest_cache"] = "none"

    def start() -> None:
        config = setup_optimize_configuration(args, RunMode.BACKTEST)
        logger.info("Starting freqtrade in Backtesting mode, markets served offline")
        run = _run_engine(config, markets)
        if on_complete is not None:
            on_complete(run)

    return _exit_code(start)


def lookahead_analysis_main(
    argv: list[str], *, markets: Mapping[str, Any] | str | Path | None = None
) -> int:
    """``freqtrade lookahead-analysis`` with static markets; exit code as `backtesting_main`.

    `argv` is what follows ``lookahead-analysis``. The verdict is in the table freqtrade logs,
    and in the CSV written with ``--lookahead-analysis-exportfilename``.
    """
    return _run_subcommand("lookahead-analysis", argv, markets)


def recursive_analysis_main(
    argv: list[str], *, markets: Mapping[str, Any] | str | Path | None = None
) -> int:
    """``freqtrade recursive-analysis`` with static markets; arguments and result as above."""
    return _run_subcommand("recursive-analysis", argv, markets)


def hyperopt_main(argv: list[str], *, markets: Mapping[str, Any] | str | Path | None = None) -> int:
    """``freqtrade hyperopt`` with static markets; arguments and result as above.

    Needs freqtrade's hyperopt extra (``pip install "freqtrade[hyperopt]"``).
    """
    return _run_subcommand("hyperopt", argv, markets)


def _run_subcommand(command: str, argv: list[str], markets: Any) -> int:
    from freqtrade.commands.arguments import Arguments

    args = Arguments([command, *argv]).get_parsed_arg()

    def start() -> None:
        from freqtrade.optimize.backtesting import Backtesting

        from freqtrade_mem0.runtime import close_all

        try:
            with offline_markets(markets):
                args["func"](args)
        finally:
            Backtesting.cleanup()
            close_all()  # the analyses build many strategy objects and never end their runs

    return _exit_code(start)


def _exit_code(start: Callable[[], None]) -> int:
    """Run a command the way freqtrade's `main` does, returning its exit code."""
    from freqtrade.exceptions import FreqtradeException

    try:
        start()
    except KeyboardInterrupt:
        logger.info("SIGINT received, aborting ...")
        return 130
    except (FreqtradeException, OperationalError) as exc:
        logger.error(str(exc))
        return 2
    return 0


def _run_engine(config: dict[str, Any], markets: Any) -> BacktestRun:
    """`Backtesting(config).start()` under static markets; freqtrade's globals restored after."""
    from freqtrade.optimize.backtesting import Backtesting

    engine: Backtesting | None = None
    with offline_markets(markets):
        try:
            engine = Backtesting(config)
            engine.start()
        finally:
            if engine is not None:
                _close_memories(engine)
            # Backtesting switches freqtrade's trade persistence to in-memory for the whole
            # process and leaves it so; undo that, and release the exchange's event loop now.
            Backtesting.cleanup()
            if engine is not None:
                engine.exchange.close()
    exported = bool(engine.all_bt_content) and config.get("export", "none") in ("trades", "signals")
    result_file = _find_result_file(config["exportdirectory"], engine.results) if exported else None
    instances = {s.get_strategy_name(): s for s in engine.strategylist}
    return BacktestRun(engine.results, dict(engine.run_ids), config, result_file, instances)


def _close_memories(engine: Any) -> None:
    """The end of a backtest: strategies with a memory deliver what they hold and let go."""
    for strategy in getattr(engine, "strategylist", []):
        close = getattr(strategy, "mem0_close", None)
        if callable(close):
            close()


def _find_result_file(directory: Path, results: Mapping[str, Any]) -> Path | None:
    """The result zip whose metadata matches `results` (the newest such, normally the latest)."""
    wanted = {
        name: (meta.get("run_id"), meta.get("backtest_start_time"))
        for name, meta in results.get("metadata", {}).items()
    }
    # freqtrade treats a path that is not a directory as a file name prefix in its parent.
    folder = directory if directory.is_dir() else directory.parent
    newest_first = sorted(folder.glob("*.meta.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for meta_file in newest_first:
        try:
            written = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found = {
            name: (meta.get("run_id"), meta.get("backtest_start_time"))
            for name, meta in written.items()
            if isinstance(meta, dict)
        }
        if found == wanted:
            candidate = meta_file.with_name(meta_file.name.replace(".meta.json", ".zip"))
            if candidate.is_file():
                return candidate
    logger.warning("no result file in %s matches this backtest", directory)
    return None
