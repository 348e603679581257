"""A recall answered outside a running bot (the `recall` command, the demo), and its text form."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import RecallSettings
from freqtrade_mem0.errors import ConfigError, NotFoundError
from freqtrade_mem0.market import MarketSeries
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import and_, eq, parse
from freqtrade_mem0.recall.index import RecallIndex, RecallResult, Scope, scope_filter


def market_from_candles(
    datadir: Path, pair: str, timeframe: str, at: datetime
) -> tuple[MarketSeries, datetime]:
    """The market series of `pair` from freqtrade's candle files in `datadir`."""
    from freqtrade.data.history import load_pair_history
    from freqtrade.exchange import timeframe_to_minutes

    frame = load_pair_history(pair=pair, timeframe=timeframe, datadir=Path(datadir))
    if frame.empty:
        raise NotFoundError(f"no {timeframe} candles for {pair} in {datadir}")
    series = MarketSeries.from_frame(frame, timedelta(minutes=timeframe_to_minutes(timeframe)))
    last_close = datetime.fromtimestamp(float(series.close_times[-1]) / 1e9, tz=UTC)
    return series, min(at, last_close)


def recall_at(
    memory: Memory,
    *,
    strategy: str,
    pair: str,
    at: datetime | None = None,
    query: str | None = None,
    scope: Scope = "strategy",
    run_id: str | None = None,
    datadir: Path | None = None,
    timeframe: str | None = None,
    settings: RecallSettings | None = None,
) -> RecallResult:
    """What `mem0_recall(pair, at)` of `strategy` would answer, from the store.

    The market now is the fingerprint of `pair`'s last candle closed by `at`, read from
    freqtrade's candle files in `datadir`; without candles, the entry market of the pair's
    latest trade before `at` stands in for it.

    Raises:
        NotFoundError: the strategy has no trade memories.
        ConfigError: `at` is not timezone-aware.
    """
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        raise ConfigError(f"--at must carry a timezone (e.g. {at.isoformat()}Z)")
    trades = list(memory.iterate(and_(eq("kind", "trade"), eq("strategy", strategy))))
    if not trades:
        raise NotFoundError(f"no trade memories of strategy {strategy!r}")
    index = RecallIndex(fingerprint.DIM)
    index.add(trades)
    vector = None
    if datadir is not None:
        series, at = market_from_candles(
            datadir, pair, timeframe or trades[0].timeframe or "5m", at
        )
        vector = series.vector_at(at)
    else:
        before = [t for t in trades if t.pair == pair and t.timestamp < at and t.market]
        if before:
            latest = max(before, key=lambda t: t.timestamp)
            vector = np.asarray(latest.market, dtype=float)
    return index.recall(
        vector,
        at,
        where=parse(query).where if query else None,
        scope=scope_filter(scope, strategy, run_id),
        settings=settings,
    )


def format_recall(result: RecallResult, *, title: str, neighbours: int = 5) -> str:
    """A recall as a short report a person can read."""

    def pct(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.0%}"

    def num(value: float, fmt: str = "+.2f") -> str:
        return "n/a" if math.isnan(value) or math.isinf(value) else format(value, fmt)

    verdict = "sufficient" if result.sufficient else f"insufficient: {result.reason}"
    lines = [
        title,
        f"  as of          {result.at:%Y-%m-%d %H:%M} UTC",
        f"  neighbours     n={result.n}, effective n={result.n_eff:.1f} "
        f"({result.wins} wins, {result.losses} losses)",
        f"  win rate       {pct(result.win_rate)} "
        f"(95% interval {pct(result.win_rate_low)}..{pct(result.win_rate_high)}), "
        f"shrunk toward the strategy's {pct(result.prior_win_rate)} "
        f"over {result.prior_n} trades: {pct(result.shrunk_win_rate)}",
        f"  profit         mean {num(result.mean_profit)}%, median {num(result.median_profit)}%, "
        f"expectancy {num(result.expectancy)}%, profit factor {num(result.profit_factor, '.2f')}",
        f"  duration       mean {num(result.mean_duration, '.0f')} min",
        f"  similarity     dissimilarity {num(result.dissimilarity, '.2f')} "
        "(nearest distance over the typical distance between two memories)",
        f"  verdict        {verdict}",
    ]
    shown = result.neighbours[:neighbours]
    if shown:
        lines.append("  nearest trades:")
        for n in shown:
            lines.append(
                f"    {n.time:%Y-%m-%d %H:%M}  {n.pair or '?':<9} {n.side or '?':<5} "
                f"{n.profit:+6.2f}%  distance {n.distance:.2f}"
            )
    return "\n".join(lines)
