"""Finding and reading freqtrade result files: both layouts, and every way a file can be bad."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from freqtrade_mem0.errors import OperationalError, ResultFileError
from freqtrade_mem0.history import find_result_files, read_result_file
from tests.history_helpers import NEW, NEW_ZIP, OLD, OLD_MULTI, OLD_SINGLE, SHIPPED_RUNS


@pytest.mark.parametrize(
    ("path", "layout", "expected"),
    [
        (OLD_SINGLE, "json", ["StrategyTestV3"]),
        (OLD_MULTI, "json", ["StrategyTestV2", "TestStrategy"]),
        (NEW_ZIP, "zip", ["SampleStrategy"]),
    ],
)
def test_reads_both_layouts_and_multi_strategy_files(
    path: Path, layout: str, expected: list[str]
) -> None:
    result = read_result_file(path)
    assert result.layout == layout
    assert [run.strategy for run in result.runs] == expected
    for run in result.runs:
        # the run id is freqtrade's, from the .meta.json beside the file
        assert len(run.trades) == SHIPPED_RUNS[(run.strategy, run.run_id)]
        assert not run.run_id_derived
        assert run.timeframe == "5m"
        assert run.source == path
        first = run.trades[0]
        assert first.open_date.tzinfo is not None
        assert first.close_date >= first.open_date


def test_zip_layout_keeps_config_and_strategy_source() -> None:
    run = read_result_file(NEW_ZIP).runs[0]
    assert run.exchange == "binance"
    assert run.config is not None
    assert run.config["exchange"]["key"] == "REDACTED"  # freqtrade sanitised it
    assert run.strategy_source is not None
    assert "class SampleStrategy" in run.strategy_source
    assert run.metadata["backtest_start_time"] == 1795477530


def test_the_meta_file_wins_over_metadata_inside(tmp_path: Path) -> None:
    # freqtrade's own reader prefers the .meta.json; the file's own metadata says run_id "asdf"
    assert read_result_file(OLD_SINGLE).runs[0].run_id.startswith("430d")
    alone = Path(shutil.copy(OLD_SINGLE, tmp_path / OLD_SINGLE.name))
    run = read_result_file(alone).runs[0]
    assert run.run_id == "asdf"
    assert run.metadata["backtest_start_time"] == "2020-10-01 18:00:00+00:00"


def test_a_run_id_is_derived_when_no_metadata_exists(tmp_path: Path) -> None:
    alone = Path(shutil.copy(OLD_MULTI, tmp_path / OLD_MULTI.name))
    first, again = read_result_file(alone), read_result_file(alone)
    ids = [run.run_id for run in first.runs]
    assert all(run.run_id_derived for run in first.runs)
    assert all(i.startswith("derived-") for i in ids)
    assert ids == [run.run_id for run in again.runs]


def test_old_buy_tag_reads_as_enter_tag(tmp_path: Path) -> None:
    data = json.loads(OLD_MULTI.read_text())
    data["strategy"]["TestStrategy"]["trades"][0]["buy_tag"] = "breakout"
    path = tmp_path / "backtest-result-2022-01-01_00-00-00.json"
    path.write_text(json.dumps(data))
    run = read_result_file(path).runs[1]
    assert run.trades[0].enter_tag == "breakout"


# --- bad files ------------------------------------------------------------------------------


def _truncated(source: Path) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        target = folder / source.name
        target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
        return target

    return make


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        return target

    return make


def _zip(name: str, members: dict[str, str]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        target = folder / name
        with zipfile.ZipFile(target, "w") as archive:
            for member, content in members.items():
                archive.writestr(member, content)
        return target

    return make


def _edited(change: Callable[[dict], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        data = json.loads(OLD_SINGLE.read_text())
        change(data)
        target = folder / "backtest-result-2024-01-01_00-00-00.json"
        target.write_text(json.dumps(data))
        return target

    return make


def _bad_meta(folder: Path) -> Path:
    target = Path(shutil.copy(OLD_SINGLE, folder / "backtest-result-2024-01-02_00-00-00.json"))
    target.with_suffix(".meta.json").write_text("{not json")
    return target


STATS = "backtest-result-2024-01-01_00-00-00"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(_truncated(OLD_SINGLE), "not valid JSON", id="truncated-json"),
        pytest.param(_truncated(NEW_ZIP), "corrupt or truncated", id="truncated-zip"),
        pytest.param(
            _text("backtest-result.zip", b"\x00" * 100), "not a readable zip", id="junk-zip"
        ),
        pytest.param(
            _text("results.json", b"\xff\xfe\x00garbage"), "corrupt|not valid JSON", id="binary"
        ),
        pytest.param(_text("results.json", "[1, 2, 3]"), "pre-2020 format", id="legacy-list"),
        pytest.param(
            _text("config.json", '{"exchange": {}}'), "no strategy results", id="foreign-json"
        ),
        pytest.param(_text("notes.txt", "hello"), "not a .json or .zip", id="foreign-suffix"),
        pytest.param(_zip(f"{STATS}.zip", {"readme.txt": "hi"}), "holds no", id="foreign-zip"),
        pytest.param(
            _zip(f"{STATS}.zip", {f"{STATS}.json": '{"strategy": {"S": {"trades": 5}}}'}),
            "lacks",
            id="zip-without-trades",
        ),
        pytest.param(
            _edited(lambda d: d["strategy"]["StrategyTestV3"].pop("total_trades")),
            "lacks total_trades",
            id="missing-stats",
        ),
        pytest.param(
            _edited(lambda d: d["strategy"]["StrategyTestV3"]["trades"][7].pop("pair")),
            "trade 7: lacks 'pair'",
            id="trade-without-pair",
        ),
        pytest.param(
            _edited(
                lambda d: d["strategy"]["StrategyTestV3"]["trades"][3].update(
                    open_timestamp=None, open_date="yesterday"
                )
            ),
            "trade 3",
            id="trade-with-bad-date",
        ),
        pytest.param(_bad_meta, "metadata file is unreadable", id="bad-meta"),
    ],
)
def test_bad_files_are_refused_by_name_with_a_reason(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ResultFileError, match=reason) as raised:
        read_result_file(path)
    assert raised.value.path == path
    assert path.name in str(raised.value)
    assert isinstance(raised.value, OperationalError)


# --- finding files --------------------------------------------------------------------------


def test_a_folder_means_its_latest_result() -> None:
    assert find_result_files([OLD]) == [OLD_SINGLE]
    assert find_result_files([NEW]) == [NEW_ZIP]


def test_all_takes_every_result_file_but_not_metadata() -> None:
    assert find_result_files([OLD], every_run=True) == [OLD_SINGLE, OLD_MULTI]


def test_globs_and_repeats() -> None:
    found = find_result_files([str(OLD / "*.json"), OLD_SINGLE, str(NEW / "*")])
    assert found == [OLD_SINGLE, OLD_MULTI, NEW_ZIP]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda d: d / "missing.json", "no such file"),
        (lambda d: str(d / "*.zip"), "no result files match"),
        (lambda d: d, "pass --all"),
    ],
)
def test_paths_that_name_nothing_are_errors(
    tmp_path: Path, setup: Callable[[Path], object], reason: str
) -> None:
    with pytest.raises(ResultFileError, match=reason):
        find_result_files([setup(tmp_path)])  # type: ignore[list-item]


def test_a_last_result_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".last_result.json").write_text('{"latest_backtest": "gone.zip"}')
    with pytest.raises(ResultFileError, match=r"gone\.zip, which does not exist"):
        find_result_files([tmp_path])
    (tmp_path / ".last_result.json").write_text('{"other": 1}')
    with pytest.raises(ResultFileError, match="unreadable"):
        find_result_files([tmp_path])
