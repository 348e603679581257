"""Market fingerprint: a small numeric description of the market at each candle.

Recall compares fingerprints by Euclidean distance, so every feature is unitless, roughly unit
scale, and clipped to [-4, 4]. Every window is fixed (no recursive smoothing such as an EMA):
the value at row i depends only on rows i-WARMUP+1 .. i, so a frame truncated after row i, or
started later with at least WARMUP rows before it, gives row i the same fingerprint, and a live
bot with `startup_candle_count >= WARMUP` sees the same numbers a backtest did.

Features (sigma_n: standard deviation of 1-candle log returns over the last n candles):

| name        | formula                                          | why |
|-------------|--------------------------------------------------|------|
| ret_1       | log(c/c[-1]) / sigma_24                          | last move in noise units |
| ret_6       | log(c/c[-6]) / (sigma_24 * sqrt 6)               | short momentum |
| ret_24      | log(c/c[-24]) / (sigma_24 * sqrt 24)             | momentum over a day on 1h |
| vol_regime  | 2 * log(sigma_24 / sigma_192)                    | volatility now versus before |
| atr_regime  | 2 * log(mean TR 14 / mean TR 192)                | range expansion or contraction |
| rsi         | (RSI_14 - 50) / 25, RSI from simple means        | overbought / oversold |
| trend       | 2 log(SMA_12 / SMA_48) / (sigma_24 * sqrt 24)    | direction and strength of trend |
| volume_z    | z-score of log(1 + volume) over 96 candles       | unusual activity |
| dist_ma     | log(c / SMA_192) / (sigma_192 * sqrt 48)         | stretch from the long average |
| range_pos   | 2 * (c - low_96) / (high_96 - low_96) - 1        | where in the recent range |

Divisions by a zero spread (flat prices, no volume, candles freqtrade filled in for gaps) give 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

FINGERPRINT_VERSION = 1
FEATURES: tuple[str, ...] = (
    "ret_1",
    "ret_6",
    "ret_24",
    "vol_regime",
    "atr_regime",
    "rsi",
    "trend",
    "volume_z",
    "dist_ma",
    "range_pos",
)
DIM = len(FEATURES)
LONG = 192
WARMUP = LONG + 1  # sigma_192 and mean TR 192 need one extra row for the first return
CLIP = 4.0
REQUIRED = ("date", "high", "low", "close", "volume")
_EPS = 1e-12


def _rolling(values: np.ndarray, window: int, how: str) -> np.ndarray:
    """A fixed-window statistic ending at each row (NaN until the window is full)."""
    out = np.full(values.shape, np.nan)
    if len(values) >= window:
        view = sliding_window_view(values, window)
        out[window - 1 :] = getattr(view, how)(axis=-1)
    return out


def _lag(values: np.ndarray, periods: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    if len(values) > periods:
        out[periods:] = values[:-periods]
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is (nearly) zero, NaN kept."""
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    ok = np.abs(denominator) > _EPS
    np.divide(numerator, denominator, out=out, where=ok)
    return np.where(np.isnan(numerator) | np.isnan(denominator), np.nan, out)


def _log_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """log(numerator / denominator), 0 where either is (nearly) zero, NaN kept."""
    ok = (numerator > _EPS) & (denominator > _EPS)
    out = np.log(np.where(ok, numerator, 1.0) / np.where(ok, denominator, 1.0))
    return np.where(np.isnan(numerator) | np.isnan(denominator), np.nan, out)


def candle_columns(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The price and volume columns a fingerprint reads, as float arrays of their own.

    Raises:
        ValueError: a required column (date, high, low, close, volume) is missing.
    """
    missing = [name for name in REQUIRED if name not in df.columns]
    if missing:
        raise ValueError(f"the dataframe lacks column(s) {', '.join(missing)} for a fingerprint")
    return {
        name: df[name].to_numpy(dtype=np.float64, copy=True)
        for name in ("high", "low", "close", "volume")
    }


def _compute(df: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    return fingerprint_columns(candle_columns(df))


def fingerprint_columns(cols: Mapping[str, np.ndarray]) -> tuple[np.ndarray, pd.DataFrame]:
    """`fingerprint_and_features` of the arrays `candle_columns` took from a frame."""
    close, high, low = cols["close"], cols["high"], cols["low"]
    volume = np.clip(cols["volume"], 0.0, None)
    log_close = np.log(np.where(close > 0, close, np.nan))
    returns = log_close - _lag(log_close, 1)
    sigma_24 = _rolling(returns, 24, "std")
    sigma_192 = _rolling(returns, LONG, "std")
    true_range = np.fmax(
        high - low, np.fmax(np.abs(high - _lag(close, 1)), np.abs(low - _lag(close, 1)))
    )
    atr_14 = _rolling(true_range, 14, "mean")
    atr_long = _rolling(true_range, LONG, "mean")
    gains = _rolling(np.clip(returns, 0.0, None), 14, "mean")
    losses = _rolling(np.clip(-returns, 0.0, None), 14, "mean")
    moves = gains + losses
    rsi = np.where(moves > _EPS, 100.0 * _ratio(gains, moves), 50.0)
    rsi = np.where(np.isnan(moves), np.nan, rsi)
    sma_12, sma_48 = _rolling(close, 12, "mean"), _rolling(close, 48, "mean")
    sma_long = _rolling(close, LONG, "mean")
    log_volume = np.log1p(volume)
    volume_z = _ratio(
        log_volume - _rolling(log_volume, 96, "mean"), _rolling(log_volume, 96, "std")
    )
    high_96, low_96 = _rolling(high, 96, "max"), _rolling(low, 96, "min")
    range_pos = _ratio(close - low_96, high_96 - low_96)
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_ratio = _ratio(sigma_24, sigma_192)
        features = np.column_stack(
            [
                _ratio(returns, sigma_24),
                _ratio(log_close - _lag(log_close, 6), sigma_24 * np.sqrt(6)),
                _ratio(log_close - _lag(log_close, 24), sigma_24 * np.sqrt(24)),
                2.0 * _log_ratio(sigma_24, sigma_192),
                2.0 * _log_ratio(atr_14, atr_long),
                (rsi - 50.0) / 25.0,
                2.0 * _ratio(_log_ratio(sma_12, sma_48), sigma_24 * np.sqrt(24)),
                volume_z,
                _ratio(_log_ratio(close, sma_long), sigma_192 * np.sqrt(48)),
                np.where(high_96 - low_96 > _EPS, 2.0 * range_pos - 1.0, 0.0),
            ]
        )
    features = np.clip(features, -CLIP, CLIP)
    features[: min(WARMUP - 1, len(features))] = np.nan
    features[~np.isfinite(features).all(axis=1)] = np.nan
    raw = pd.DataFrame(
        {
            "ret_24_pct": 100.0 * (np.exp(log_close - _lag(log_close, 24)) - 1.0),
            "trend_z": features[:, FEATURES.index("ret_24")],
            "vol_ratio": vol_ratio,
            "atr_pct": 100.0 * _ratio(atr_14, close),
            "rsi": rsi,
            "volume_z": volume_z,
            "dist_ma_pct": 100.0 * (_ratio(close, sma_long) - 1.0),
            "range_pos": range_pos,
        }
    )
    return features, raw


def fingerprint_frame(df: pd.DataFrame) -> np.ndarray:
    """Fingerprints of every row: shape (len(df), DIM), NaN rows before warm-up.

    Raises:
        ValueError: a required column (date, high, low, close, volume) is missing.
    """
    return _compute(df)[0]


def raw_features(df: pd.DataFrame) -> pd.DataFrame:
    """Human-unit values per row (RSI 0-100, ATR %, 24-candle return %, volume z ...)."""
    return _compute(df)[1]


def fingerprint_and_features(df: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """`fingerprint_frame` and `raw_features` from one pass over the candles."""
    return _compute(df)


def fingerprint_at(df: pd.DataFrame, when: datetime | pd.Timestamp) -> np.ndarray | None:
    """The fingerprint of the last candle dated at or before `when` (None before warm-up)."""
    dates = pd.to_datetime(df["date"], utc=True).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    row = int(np.searchsorted(dates, stamp.as_unit("ns").value, side="right")) - 1
    if row < 0:
        return None
    vector = fingerprint_frame(df.iloc[: row + 1])[row]
    return None if np.isnan(vector).any() else vector


def describe_market(raw: Mapping[str, float]) -> str:
    """A short phrase: "rising, high-volatility market, RSI 71, volume spike".

    Direction from the 24-candle return in units of noise (beyond +-1: rising/falling),
    volatility from sigma_24 / sigma_192 (above 1.5: high, below 0.67: quiet), a volume spike
    at a volume z-score above 2.
    """

    def value(name: str) -> float | None:
        number = raw.get(name)
        return None if number is None or not np.isfinite(number) else float(number)

    words = []
    trend = value("trend_z")
    if trend is not None:
        words.append("rising" if trend > 1.0 else "falling" if trend < -1.0 else "sideways")
    vol = value("vol_ratio")
    if vol is not None and vol > 1.5:
        words.append("high-volatility")
    elif vol is not None and vol < 0.67:
        words.append("quiet")
    phrase = (", ".join(words) + " market") if words else "unknown market"
    rsi = value("rsi")
    if rsi is not None:
        phrase += f", RSI {rsi:.0f}"
    volume_z = value("volume_z")
    if volume_z is not None and volume_z > 2.0:
        phrase += ", volume spike"
    return phrase
