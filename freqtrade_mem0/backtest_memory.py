"""A finished backtest as memories: one summary per strategy, beside its trade memories."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from freqtrade_mem0.backtest import BacktestRun
from freqtrade_mem0.config import Settings, load_settings
from freqtrade_mem0.memory import Memory, WriteResult
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.records import summary_record
from freqtrade_mem0.runtime import shared_memory

logger = logging.getLogger(__name__)

# Per-pair figures kept in a summary: enough to compare pairs across runs without the trades.
_PAIR_FIELDS = ("trades", "profit_total_pct", "profit_total_abs", "winrate", "duration_avg")
# Config keys that hold credentials: never part of a memory, nor of its config hash.
_SECRET_KEYS = frozenset({"key", "secret", "password", "uid", "token", "jwt_secret_key"})


def summaries_of(run: BacktestRun) -> list[MemoryRecord]:
    """One backtest summary memory per strategy of `run`.

    Each carries the strategy's metrics, its per-pair results, the timerange, freqtrade's
    run_id, a hash of the config (credentials left out) and one of the strategy's source.
    """
    exchange = run.config.get("exchange", {}).get("name")
    config_hash = _digest(_without_secrets(run.config.get("original_config", run.config)))
    records = []
    for name in run.strategies:
        stats = run.stats(name)
        instance = run.instances.get(name)
        source = getattr(instance, "__source__", None)
        extra = {
            "results_per_pair": [
                {"pair": row.get("key"), **{f: row.get(f) for f in _PAIR_FIELDS}}
                for row in stats.get("results_per_pair", [])
                if row.get("key") != "TOTAL"
            ],
            "config_hash": config_hash,
            "strategy_hash": _digest(source) if isinstance(source, str) else None,
            "result_file": str(run.result_file) if run.result_file else None,
        }
        records.append(
            summary_record(
                stats,
                strategy=name,
                run_id=run.run_ids.get(name) or config_hash[:16],
                exchange=exchange,
                extra=extra,
            )
        )
    return records


def remember_backtest(
    run: BacktestRun, *, memory: Memory | None = None, settings: Settings | None = None
) -> WriteResult:
    """Store the summaries of `run` in `memory`, or in the store its config's mem0 section names."""
    records = summaries_of(run)
    if memory is not None:
        return memory.remember(records)
    settings = settings or load_settings(run.config.get("mem0"))
    location = settings.location(run.config.get("user_data_dir") or "user_data")
    with shared_memory(location, settings) as opened:
        result = opened.remember(records)
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
