"""Market context per pair: fingerprints of every analyzed candle, looked up by time.

The mixin computes a pair's fingerprints once per analysis (once per backtest, once per new
candle live) and looks them up in O(log n) from callbacks. A lookup at time `t` sees only the
last candle that had *closed* by `t`, which is what a live bot would have seen then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.records import MarketContext

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Candles:
    """What a fingerprint reads from an analyzed frame: close times and price and volume
    columns, copied, so that they can be fingerprinted while freqtrade goes on with the frame."""

    close_times: np.ndarray  # int64 nanoseconds since the epoch, ascending
    columns: dict[str, np.ndarray]

    @classmethod
    def of(cls, dataframe: pd.DataFrame, timeframe: timedelta) -> Candles:
        """The candles of `dataframe` (ValueError if it lacks a column a fingerprint needs)."""
        columns = fingerprint.candle_columns(dataframe)
        dates = pd.to_datetime(dataframe["date"], utc=True)
        close_times = (dates + timeframe).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        return cls(close_times=close_times, columns=columns)


@dataclass(frozen=True)
class MarketSeries:
    """One pair's fingerprints, their candles' close times, and readable descriptions."""

    close_times: np.ndarray  # int64 nanoseconds since the epoch, ascending
    vectors: np.ndarray  # (n, DIM) float64, NaN rows before warm-up
    raw: np.ndarray  # (n, len(raw_names)) human-unit features, same rows
    raw_names: tuple[str, ...]

    @classmethod
    def from_frame(cls, dataframe: pd.DataFrame, timeframe: timedelta) -> MarketSeries:
        """Fingerprint an analyzed dataframe (columns date, open, high, low, close, volume)."""
        return cls.from_candles(Candles.of(dataframe, timeframe))

    @classmethod
    def from_candles(cls, candles: Candles) -> MarketSeries:
        """Fingerprint candles taken out of a frame (any thread: they are its own copies)."""
        vectors, raw = fingerprint.fingerprint_columns(candles.columns)
        # Plain arrays: a row is read at every fill, and a pandas row lookup costs 0.1 ms.
        return cls(
            close_times=candles.close_times,
            vectors=vectors,
            raw=raw.to_numpy(dtype=np.float64),
            raw_names=tuple(str(name) for name in raw.columns),
        )

    def index_at(self, when: datetime) -> int | None:
        """Row of the last candle closed at or before `when` (None if none has)."""
        stamp = pd.Timestamp(when)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        row = int(np.searchsorted(self.close_times, stamp.value, side="right")) - 1
        return row if row >= 0 else None

    def vector_at(self, when: datetime) -> np.ndarray | None:
        """The fingerprint of the last closed candle at `when`; None before warm-up."""
        row = self.index_at(when)
        if row is None or not np.isfinite(self.vectors[row]).all():
            return None
        return self.vectors[row]

    def context_at(self, when: datetime) -> MarketContext | None:
        """Fingerprint, description and candle time of the last closed candle at `when`."""
        row = self.index_at(when)
        if row is None or not np.isfinite(self.vectors[row]).all():
            return None
        candle_close = EPOCH + timedelta(microseconds=int(self.close_times[row]) // 1000)
        return MarketContext(
            vector=tuple(self.vectors[row].tolist()),
            description=fingerprint.describe_market(
                dict(zip(self.raw_names, self.raw[row].tolist(), strict=True))
            ),
            candle=candle_close,
        )
