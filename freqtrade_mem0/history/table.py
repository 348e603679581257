"""Backtest runs over time, and two runs side by side, as pandas DataFrames.

Both read the summary memories (one per strategy run): `history_frame` puts a strategy's runs in
the order they were made, with the change from the run before; `compare_runs` sets two runs
against each other metric by metric, pair by pair and enter tag by enter tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from freqtrade_mem0.errors import NotFoundError, OperationalError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.query import Node, and_, eq, parse

RUN_COLUMNS = (
    "when",
    "strategy",
    "run_id",
    "timerange",
    "timeframe",
    "trades",
    "profit",
    "profit_abs",
    "win_rate",
    "drawdown",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "expectancy",
    "notes",
    "period_end",
    "config_hash",
    "strategy_hash",
    "memory_id",
)
_RUN_METRICS = RUN_COLUMNS[RUN_COLUMNS.index("trades") : RUN_COLUMNS.index("notes")]
# The metrics whose change from the previous run the history shows.
CHANGE_METRICS = ("trades", "profit", "win_rate", "drawdown", "sharpe")
# Which way is better, for the metrics where that is clear (+1 higher, -1 lower).
DIRECTION: dict[str, int] = {
    "profit": 1,
    "profit_abs": 1,
    "profit_mean": 1,
    "profit_median": 1,
    "win_rate": 1,
    "wins": 1,
    "losses": -1,
    "drawdown": -1,
    "drawdown_abs": -1,
    "sharpe": 1,
    "sortino": 1,
    "calmar": 1,
    "sqn": 1,
    "cagr": 1,
    "profit_factor": 1,
    "expectancy": 1,
    "expectancy_ratio": 1,
    "max_consecutive_losses": -1,
    "final_balance": 1,
}
PAIR_COLUMNS = ("when", "strategy", "run_id", "pair", "trades", "profit", "profit_mean", "win_rate")


def summaries(memory: Memory, query: str | Node | None = None) -> list[MemoryRecord]:
    """The summary memories a query matches (every one without a query)."""
    return list(memory.iterate(and_(eq("kind", "summary"), _where(query)), with_vectors=False))


def _where(query: str | Node | None) -> Node | None:
    return parse(query or "").where if isinstance(query, str) or query is None else query


def history_frame(
    memory: Memory,
    query: str | Node | None = None,
    *,
    strategy: str | None = None,
    per: Literal["run", "pair"] = "run",
) -> pd.DataFrame:
    """Backtest runs in the order they were made, one row per strategy run (or run and pair).

    Args:
        memory: where the summary memories are.
        query: a filter in the query language, e.g. `strategy:MyStrategy AND timeframe:5m`.
        strategy: shorthand for `AND strategy:<name>`.
        per: `run` for one row per strategy run, with `<metric>_change` columns holding the
            change from the strategy's previous run and `changed` naming what differs from it
            (code, config, timerange); `pair` for one row per run and pair.

    Returns:
        Columns `RUN_COLUMNS` (plus the changes) or `PAIR_COLUMNS`; `when` is when the backtest
        ran (UTC), `profit` and `drawdown` are percentages, `win_rate` a ratio.
    """
    records = summaries(memory, and_(_where(query), eq("strategy", strategy) if strategy else None))
    if per == "pair":
        return _pair_frame(records)
    frame = pd.DataFrame([_run_row(r) for r in records], columns=list(RUN_COLUMNS))
    frame = _ordered(frame)
    grouped = frame.groupby("strategy", sort=False)
    for name in CHANGE_METRICS:
        frame[f"{name}_change"] = grouped[name].diff()
    frame["changed"] = _what_changed(frame, grouped)
    return frame


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    frame["when"] = pd.to_datetime(frame["when"], utc=True, format="ISO8601")
    frame["period_end"] = pd.to_datetime(frame["period_end"], utc=True, format="ISO8601")
    return frame.sort_values(["when", "strategy", "run_id"], kind="stable").reset_index(drop=True)


def _what_changed(frame: pd.DataFrame, grouped: Any) -> pd.Series:
    """What differs from the strategy's previous run: its code, its config, its timerange."""
    labels = pd.Series("", index=frame.index)
    for label, column in (
        ("code", "strategy_hash"),
        ("config", "config_hash"),
        ("timerange", "timerange"),
    ):
        before = grouped[column].shift()
        differs = frame[column].notna() & before.notna() & (frame[column] != before)
        labels = labels.where(~differs, labels + "," + label)
    return labels.str.strip(",")


def _run_row(record: MemoryRecord) -> dict[str, Any]:
    metrics, data = record.metrics, record.data
    return {
        "when": data.get("run_started") or record.timestamp.isoformat(),
        "strategy": record.strategy,
        "run_id": record.run_id,
        "timerange": data.get("timerange") or None,
        "timeframe": record.timeframe,
        **{name: metrics.get(name) for name in _RUN_METRICS},
        "notes": data.get("notes") or None,
        "period_end": record.timestamp.isoformat(),
        "config_hash": data.get("config_hash"),
        "strategy_hash": data.get("strategy_hash"),
        "memory_id": record.id,
    }


def _pair_frame(records: list[MemoryRecord]) -> pd.DataFrame:
    rows = []
    for record in records:
        when = record.data.get("run_started") or record.timestamp.isoformat()
        for item in _rows(record, "results_per_pair", "pair"):
            rows.append(
                {
                    "when": when,
                    "strategy": record.strategy,
                    "run_id": record.run_id,
                    "period_end": record.timestamp.isoformat(),
                    **item,
                }
            )
    frame = pd.DataFrame(rows, columns=[*PAIR_COLUMNS, "period_end"])
    return _ordered(frame)[list(PAIR_COLUMNS)]


def _rows(record: MemoryRecord, table: str, name: str) -> list[dict[str, Any]]:
    """A summary's per-pair (or per-tag) table with the history's names and units."""
    out = []
    for row in record.data.get(table) or []:
        if not isinstance(row, Mapping):
            continue
        trades = _number(row.get("trades"))
        win_rate = _number(row.get("winrate"))
        if win_rate is None and trades:
            win_rate = (_number(row.get("wins")) or 0.0) / trades
        out.append(
            {
                name: row.get(name, row.get("key")),
                "trades": trades,
                "profit": _number(row.get("profit_total_pct")),
                "profit_mean": _number(row.get("profit_mean_pct")),
                "win_rate": win_rate,
            }
        )
    return out


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


# -- two runs side by side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side.

    Attributes:
        a: the first run's summary memory.
        b: the second run's.
        runs: what each run was (strategy, run id, when, timerange, hashes, notes), a column each.
        metrics: per metric: `a`, `b`, `change` (b - a) and `better` (`a`, `b`, or empty where
            the metric has no better direction or they tie).
        pairs: per pair: trades, profit and win rate of each, and the profit change.
        enter_tags: the same per enter tag.
    """

    a: MemoryRecord
    b: MemoryRecord
    runs: pd.DataFrame
    metrics: pd.DataFrame
    pairs: pd.DataFrame
    enter_tags: pd.DataFrame


def compare_runs(memory: Memory, a: str, b: str, *, strategy: str | None = None) -> Comparison:
    """Compare two backtest runs.

    Args:
        memory: where the summary memories are.
        a: a run: its run id or a unique prefix of it (4+ characters), `STRATEGY@RUN`, or a
            summary memory's id.
        b: the other run, likewise.
        strategy: the strategy, where a run id stands for several (multi-strategy runs).

    Raises:
        NotFoundError: no summary matches a run.
        OperationalError: a run reference matches several runs.
    """
    first, second = resolve_run(memory, a, strategy), resolve_run(memory, b, strategy)
    names = list(dict.fromkeys([*first.metrics, *second.metrics]))
    metrics = pd.DataFrame(
        {
            "a": [first.metrics.get(n) for n in names],
            "b": [second.metrics.get(n) for n in names],
        },
        index=pd.Index(names, name="metric"),
        dtype="float64",
    )
    metrics["change"] = metrics["b"] - metrics["a"]
    metrics["better"] = [
        _better(DIRECTION.get(n, 0), float(change))
        for n, change in zip(names, metrics["change"].tolist(), strict=True)
    ]
    return Comparison(
        a=first,
        b=second,
        runs=pd.DataFrame({"a": _run_facts(first), "b": _run_facts(second)}),
        metrics=metrics,
        pairs=_side_by_side(first, second, "results_per_pair", "pair"),
        enter_tags=_side_by_side(first, second, "results_per_enter_tag", "enter_tag"),
    )


def _better(direction: int, change: float) -> str:
    if direction == 0 or pd.isna(change) or change == 0:
        return ""
    return "b" if change * direction > 0 else "a"


def _run_facts(record: MemoryRecord) -> pd.Series:
    row = _run_row(record)
    keys = ("strategy", "run_id", "when", "timerange", "timeframe", "config_hash", "strategy_hash")
    return pd.Series({**{k: row[k] for k in keys}, "notes": row["notes"]})


def _side_by_side(a: MemoryRecord, b: MemoryRecord, table: str, name: str) -> pd.DataFrame:
    columns = ["trades", "profit", "win_rate"]
    left = pd.DataFrame(_rows(a, table, name), columns=[name, *columns, "profit_mean"])
    right = pd.DataFrame(_rows(b, table, name), columns=[name, *columns, "profit_mean"])
    merged = left[[name, *columns]].merge(
        right[[name, *columns]], on=name, how="outer", suffixes=("_a", "_b"), sort=True
    )
    merged["profit_change"] = merged["profit_b"] - merged["profit_a"]
    order = [name] + [f"{c}_{s}" for c in columns for s in ("a", "b")] + ["profit_change"]
    return merged[order].set_index(name)


def resolve_run(memory: Memory, ref: str, strategy: str | None = None) -> MemoryRecord:
    """The summary memory a run reference names (see `compare_runs`)."""
    wanted_strategy, _, run = ref.rpartition("@") if "@" in ref else (strategy or "", "", ref)
    scope = eq("strategy", wanted_strategy) if wanted_strategy else None
    exact = summaries(memory, and_(scope, eq("run_id", run)))
    if not exact:
        exact = summaries(memory, and_(scope, eq("id", run))) if len(run) == 36 else []
    if not exact and len(run) >= 4:
        exact = [r for r in summaries(memory, scope) if (r.run_id or "").startswith(run)]
    if not exact:
        raise NotFoundError(f"no backtest run matches {ref!r}")
    if len(exact) > 1:
        found = ", ".join(sorted(f"{r.strategy}@{r.run_id}" for r in exact)[:6])
        raise OperationalError(
            f"{ref!r} matches {len(exact)} runs ({found}); name one as STRATEGY@RUN_ID"
            " or give --strategy"
        )
    return exact[0]
