"""Finding freqtrade backtest result files and reading them into typed runs.

Two layouts exist: freqtrade before 2025 wrote `backtest-result-<time>.json` (stats, with the
metadata inside it or beside it in `.meta.json`); since then a `backtest-result-<time>.zip` holds
the stats, the sanitised config and the strategy's source, with the metadata in `.meta.json`.
Both are read with freqtrade's own loader (`load_backtest_stats`), which also follows a results
folder's `.last_result.json`. Anything that is not such a file is refused with a
`ResultFileError` that names the file and says why.
"""

from __future__ import annotations

import glob
import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from freqtrade_mem0.errors import ResultFileError
from freqtrade_mem0.records import TradeFacts, facts_from_result

LAST_RESULT = ".last_result.json"
SUFFIXES = (".json", ".zip")
# What every strategy entry of a backtest result has, in every freqtrade since 2021.
_REQUIRED_STATS = ("trades", "total_trades", "backtest_end")


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's results in one backtest run, as read from a result file.

    Attributes:
        strategy: the strategy's name.
        run_id: freqtrade's run id (from the metadata); derived from the stats' content when a
            file has no metadata (`run_id_derived` is then True).
        stats: freqtrade's per-strategy statistics, `trades` included.
        trades: the trades, typed.
        metadata: freqtrade's metadata of this strategy's run (empty if the file had none).
        config: the run's sanitised config (zip layout only).
        strategy_source: the strategy file's text (zip layout only).
        source: the result file.
    """

    strategy: str
    run_id: str
    stats: dict[str, Any] = field(repr=False)
    trades: list[TradeFacts] = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = field(default=None, repr=False)
    strategy_source: str | None = field(default=None, repr=False)
    source: Path | None = None
    run_id_derived: bool = False

    @property
    def timeframe(self) -> str | None:
        """The strategy's timeframe."""
        value = self.stats.get("timeframe")
        return str(value) if value else None

    @property
    def exchange(self) -> str | None:
        """The exchange named in the run's config, if the file kept it."""
        section = (self.config or {}).get("exchange")
        name = section.get("name") if isinstance(section, Mapping) else None
        return str(name) if name else None


@dataclass(frozen=True)
class ResultFile:
    """A backtest result file and the strategy runs in it."""

    path: Path
    layout: Literal["json", "zip"]
    runs: list[StrategyResult]


def find_result_files(paths: Iterable[str | Path], *, every_run: bool = False) -> list[Path]:
    """The result files that paths name, in order and without repeats.

    Args:
        paths: result files (`.json`, `.zip`), results folders, or glob patterns.
        every_run: in a folder, take every result file instead of the latest one that
            `.last_result.json` names.

    Raises:
        ResultFileError: a path that exists nowhere, a pattern that matches nothing, or a folder
            without `.last_result.json` (and no `every_run`).
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = _every_result_file(path) if every_run else [_latest_result_file(path)]
        elif path.is_file():
            files = [path]
        elif glob.has_magic(str(raw)):
            matches = sorted(Path(p) for p in glob.glob(str(raw), recursive=True))
            files = [p for p in matches if p.is_file() and _looks_like_result(p)]
            if not files:
                raise ResultFileError(raw, "no result files match this pattern")
        else:
            raise ResultFileError(raw, "no such file or folder")
        found.update(dict.fromkeys(files))
    return list(found)


def _looks_like_result(path: Path) -> bool:
    """A name freqtrade gives result files (not its metadata or pointer files)."""
    name = path.name
    return path.suffix in SUFFIXES and not name.startswith(".") and not name.endswith(".meta.json")


def _every_result_file(folder: Path) -> list[Path]:
    # freqtrade's names carry the run's time, so name order is the order the runs were made
    return sorted(p for p in folder.iterdir() if p.is_file() and _looks_like_result(p))


def _latest_result_file(folder: Path) -> Path:
    from freqtrade.data.btanalysis import get_latest_backtest_filename

    pointer = folder / LAST_RESULT
    if not pointer.is_file():
        raise ResultFileError(
            folder, f"no {LAST_RESULT} here; pass --all to take every result file in the folder"
        )
    try:
        name = get_latest_backtest_filename(folder)
    except ValueError as exc:
        raise ResultFileError(pointer, f"unreadable: {exc}") from None
    latest = folder / name
    if not latest.is_file():
        raise ResultFileError(pointer, f"names {name}, which does not exist")
    return latest


def read_result_file(path: str | Path) -> ResultFile:
    """Read a result file (either layout) into its strategy runs, every trade checked.

    Raises:
        ResultFileError: the file is corrupt, truncated, or not a freqtrade backtest result.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ResultFileError(path, "not a .json or .zip backtest result")
    layout: Literal["json", "zip"] = "zip" if path.suffix == ".zip" else "json"
    members = _zip_members(path) if layout == "zip" else set()
    data = _load_stats(path)
    strategies = data.get("strategy") if isinstance(data, dict) else None
    if not isinstance(strategies, dict) or not strategies:
        what = "a list of trades (freqtrade's pre-2020 format)" if isinstance(data, list) else None
        raise ResultFileError(
            path, f"not a freqtrade backtest result: {what or 'it has no strategy results'}"
        )
    metadata = _metadata(path, data)
    config = _zip_json(path, members, f"{path.stem}_config.json")
    runs = [
        _strategy_result(path, name, stats, metadata, config, members)
        for name, stats in strategies.items()
    ]
    return ResultFile(path, layout, runs)


def _zip_members(path: Path) -> set[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise ResultFileError(path, "not a readable zip archive (corrupt or truncated)") from None
    except OSError as exc:
        raise ResultFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    if f"{path.stem}.json" not in names:
        raise ResultFileError(
            path, f"the archive holds no {path.stem}.json: not a freqtrade backtest result"
        )
    return names


def _load_stats(path: Path) -> Any:
    from freqtrade.data.btanalysis import load_backtest_stats
    from freqtrade.exceptions import OperationalException

    try:
        return load_backtest_stats(path)
    except OperationalException as exc:  # freqtrade's wording for an unreadable .meta.json
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ResultFileError(path, f"its metadata file is unreadable{cause}") from None
    except (UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise ResultFileError(path, f"corrupt: {exc}") from None
    except ValueError as exc:  # rapidjson's decode errors are ValueErrors too
        raise ResultFileError(path, f"not valid JSON (truncated or corrupt): {exc}") from None
    except OSError as exc:
        raise ResultFileError(path, f"cannot be read: {exc.strerror or exc}") from None


def _metadata(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Metadata per strategy: the `.meta.json` (what freqtrade reads), else the file's own."""
    beside = data.get("metadata")
    if isinstance(beside, dict) and beside:
        return beside
    if path.suffix == ".json":
        # freqtrade's loader replaces a file's own metadata by the .meta.json, even an absent
        # one; files of 2021-2023 kept it only inside
        try:
            inside = json.loads(path.read_text(encoding="utf-8")).get("metadata")
        except (OSError, ValueError, AttributeError):
            inside = None
        if isinstance(inside, dict):
            return inside
    return {}


def _zip_json(path: Path, members: set[str], name: str) -> dict[str, Any] | None:
    if name not in members:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            value = json.loads(archive.read(name))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ResultFileError(path, f"{name} in the archive is corrupt: {exc}") from None
    return value if isinstance(value, dict) else None


def _zip_text(path: Path, members: set[str], name: str) -> str | None:
    if name not in members:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name).decode("utf-8")
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(path, f"{name} in the archive is corrupt: {exc}") from None


def _strategy_result(
    path: Path,
    name: str,
    stats: Any,
    metadata: Mapping[str, Any],
    config: dict[str, Any] | None,
    members: set[str],
) -> StrategyResult:
    if not isinstance(stats, dict):
        raise ResultFileError(path, f"strategy {name!r}: its results are not an object")
    missing = [key for key in _REQUIRED_STATS if key not in stats]
    if missing or not isinstance(stats["trades"], list):
        lacking = ", ".join(missing) or "a list of trades"
        raise ResultFileError(path, f"strategy {name!r}: not a backtest result (lacks {lacking})")
    meta = metadata.get(name)
    meta = dict(meta) if isinstance(meta, dict) else {}
    run_id = meta.get("run_id")
    derived = not (isinstance(run_id, str) and run_id)
    if derived:
        run_id = "derived-" + _content_digest(stats)
    return StrategyResult(
        strategy=name,
        run_id=str(run_id),
        stats=stats,
        trades=[_trade(path, name, index, row) for index, row in enumerate(stats["trades"])],
        metadata=meta,
        config=config,
        strategy_source=_zip_text(path, members, f"{path.stem}_{name}.py"),
        source=path,
        run_id_derived=derived,
    )


def _trade(path: Path, strategy: str, index: int, row: Any) -> TradeFacts:
    if not isinstance(row, dict):
        raise ResultFileError(path, f"strategy {strategy!r}, trade {index}: not an object")
    if "enter_tag" not in row and "buy_tag" in row:  # freqtrade before 2022 said buy_tag
        row = {**row, "enter_tag": row["buy_tag"]}
    try:
        return facts_from_result(row)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        problem = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ResultFileError(path, f"strategy {strategy!r}, trade {index}: {problem}") from None


def _content_digest(stats: Mapping[str, Any]) -> str:
    """A stable id for a run whose file carries none: a hash of its statistics."""
    text = json.dumps(stats, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()
