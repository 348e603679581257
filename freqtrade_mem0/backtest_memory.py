"""A finished backtest as memories: one summary per strategy, beside its trade memories.

`backtest_summary` is the one builder of a summary from freqtrade's per-strategy stats; the
end of `freqtrade-mem0 backtesting` (`summaries_of`) and the ingestion of result files both use
it, so the same run reached either way is one memory with the same content.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqtrade_mem0.backtest import BacktestRun
from freqtrade_mem0.config import Settings, load_settings
from freqtrade_mem0.memory import Memory, WriteResult
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.query import any_of
from freqtrade_mem0.records import summary_record
from freqtrade_mem0.runtime import shared_memory

logger = logging.getLogger(__name__)

# Per-pair and per-enter-tag figures kept in a summary: enough to compare runs without trades.
_BREAKDOWN_FIELDS = (
    "trades",
    "profit_total_pct",
    "profit_total_abs",
    "profit_mean_pct",
    "winrate",
    "wins",
    "losses",
    "duration_avg",
)
# Config keys that hold credentials: never part of a memory, nor of its config hash.
_SECRET_KEYS = frozenset({"key", "secret", "password", "uid", "token", "jwt_secret_key"})


def summaries_of(run: BacktestRun) -> list[MemoryRecord]:
    """One backtest summary memory per strategy of `run` (see `backtest_summary`)."""
    config = run.config.get("original_config", run.config)
    metadata = run.results.get("metadata", {})
    records = []
    for name in run.strategies:
        source = getattr(run.instances.get(name), "__source__", None)
        records.append(
            backtest_summary(
                run.stats(name),
                strategy=name,
                run_id=run.run_ids.get(name) or config_hash(config)[:16],
                metadata=metadata.get(name),
                config=config,
                strategy_source=source if isinstance(source, str) else None,
                result_file=run.result_file,
            )
        )
    return records


def backtest_summary(
    stats: Mapping[str, Any],
    *,
    strategy: str,
    run_id: str,
    metadata: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    strategy_source: str | None = None,
    result_file: str | Path | None = None,
    notes: str | None = None,
) -> MemoryRecord:
    """The summary memory of one strategy's results in one backtest run.

    It carries every strategy-level metric freqtrade reports, the per-pair and per-enter-tag
    results, the timerange and timeframe, when the backtest ran, a hash of the config
    (credentials left out) and one of the strategy's source, and notes.

    Args:
        stats: the strategy's entry in freqtrade's results (`results["strategy"][name]`).
        strategy: the strategy's name.
        run_id: freqtrade's run id (the key: the same run is one memory however it arrives).
        metadata: the strategy's entry in the results' metadata (run time, notes).
        config: the run's configuration as the user wrote it (freqtrade's `original_config`,
            or the `_config.json` in a result zip).
        strategy_source: the strategy file's text.
        result_file: the result file the run was read from or written to.
        notes: notes to keep with the run (added to any freqtrade kept in its metadata).
    """
    stats = dict(stats)
    stats["timerange"] = stats.get("timerange") or _timerange(stats)
    if stats.get("winrate") is None and stats.get("total_trades"):
        # freqtrade before 2024 reported wins and trades but no win rate
        stats["winrate"] = float(stats.get("wins") or 0) / float(stats["total_trades"])
    meta = dict(metadata or {})
    all_notes = "; ".join(n for n in (str(meta.get("notes") or "").strip(), notes or "") if n)
    section = (config or {}).get("exchange")
    exchange = section.get("name") if isinstance(section, Mapping) else None
    extra = {
        "results_per_pair": breakdown(stats.get("results_per_pair"), "pair"),
        "results_per_enter_tag": breakdown(stats.get("results_per_enter_tag"), "enter_tag"),
        "run_started": _run_started(meta, stats),
        "config_hash": config_hash(config) if config is not None else None,
        "strategy_hash": _digest(_normalised(strategy_source)) if strategy_source else None,
        "result_file": str(result_file) if result_file else None,
    }
    return summary_record(
        stats,
        strategy=strategy,
        run_id=run_id,
        exchange=exchange if isinstance(exchange, str) else None,
        notes=all_notes or None,
        extra=extra,
    )


def breakdown(rows: Sequence[Mapping[str, Any]] | None, name: str) -> list[dict[str, Any]]:
    """freqtrade's per-pair (or per-tag) table, compact, without its TOTAL row."""
    compact = []
    for row in rows or []:
        if not isinstance(row, Mapping) or row.get("key") == "TOTAL":
            continue
        entry = {name: row.get("key"), **{f: row.get(f) for f in _BREAKDOWN_FIELDS}}
        if entry["winrate"] is None and row.get("trades"):
            entry["winrate"] = float(row.get("wins") or 0) / float(row["trades"])
        compact.append(entry)
    return compact


def config_hash(config: Mapping[str, Any]) -> str:
    """A hash of a configuration as freqtrade stores it in result files, credentials left out.

    freqtrade redacts secrets before writing a config into a result zip; the same redaction
    here makes a config seen by the engine and the one read back from its zip hash alike.
    """
    from freqtrade.configuration import sanitize_config

    return _digest(_without_secrets(sanitize_config(dict(config))))


def _timerange(stats: Mapping[str, Any]) -> str:
    """freqtrade's `YYYYMMDD-YYYYMMDD` from the backtest's period (older files left it blank)."""
    try:
        start, end = (
            str(stats[k])[:10].replace("-", "") for k in ("backtest_start", "backtest_end")
        )
    except KeyError:
        return ""
    return f"{start}-{end}"


def _run_started(metadata: Mapping[str, Any], stats: Mapping[str, Any]) -> str | None:
    """When the backtest was run (wall clock), as ISO-8601."""
    value = metadata.get("backtest_start_time") or stats.get("backtest_run_start_ts")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return None


def _normalised(source: str) -> str:
    # a strategy read as a file and the same read by `inspect` differ only in line endings
    return source.replace("\r\n", "\n")


def remember_backtest(
    run: BacktestRun, *, memory: Memory | None = None, settings: Settings | None = None
) -> WriteResult:
    """Store the summaries of `run` in `memory`, or in the store its config's mem0 section names.

    A summary's text is the same whenever the results are: a backtest run again reads its
    vector back from the strategy's memories instead of loading the model to embed it.
    """
    records = summaries_of(run)
    same_strategies = any_of("strategy", sorted({r.strategy for r in records if r.strategy}))
    if memory is not None:
        return memory.remember(records, reuse_where=same_strategies)
    settings = settings or load_settings(run.config.get("mem0"))
    location = settings.location(run.config.get("user_data_dir") or "user_data")
    with shared_memory(location, settings) as opened:
        result = opened.remember(records, reuse_where=same_strategies)
    logger.info("remembered %d backtest summaries in %s", len(result.written), location)
    return result


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _without_secrets(v) for k, v in value.items() if str(k) not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_without_secrets(v) for v in value]
    return value


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
