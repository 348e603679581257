"""The market fingerprint: past-only, named, versioned, finite past warm-up, on the shipped
candles of every pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.market import MarketSeries

CANDLES = Path(__file__).resolve().parent.parent / "user_data_examples" / "data" / "binance"
PAIRS = sorted(path.name.split("-")[0] for path in CANDLES.glob("*-5m.feather"))


def candles(pair: str) -> pd.DataFrame:
    return pd.read_feather(CANDLES / f"{pair}-5m.feather")


def test_the_shipped_candles_cover_every_pair() -> None:
    assert len(PAIRS) == 10


@pytest.mark.parametrize("pair", PAIRS)
def test_a_row_has_the_same_fingerprint_in_a_frame_cut_right_after_it(pair: str) -> None:
    frame = candles(pair)
    full, full_raw = fingerprint.fingerprint_and_features(frame)
    rng = np.random.default_rng(7)
    rows = [0, fingerprint.WARMUP - 2, fingerprint.WARMUP - 1, len(frame) - 1]
    rows += sorted(rng.choice(len(frame), 20, replace=False).tolist())
    for row in rows:
        cut, cut_raw = fingerprint.fingerprint_and_features(frame.iloc[: row + 1])
        # Bit for bit, not approximately: recall in a backtest must see what a live bot saw.
        assert np.array_equal(cut[row], full[row], equal_nan=True), row
        assert np.array_equal(
            cut_raw.iloc[row].to_numpy(), full_raw.iloc[row].to_numpy(), equal_nan=True
        ), row


def test_a_frame_that_starts_later_gives_the_same_fingerprints_after_its_warm_up() -> None:
    frame = candles("ETH_BTC")
    full = fingerprint.fingerprint_frame(frame)
    start = 1234  # a live bot's frame begins wherever its startup candles begin
    later = fingerprint.fingerprint_frame(frame.iloc[start:].reset_index(drop=True))
    warm = fingerprint.WARMUP - 1
    assert np.isnan(later[:warm]).all()
    assert np.array_equal(later[warm:], full[start + warm :])


@pytest.mark.parametrize("pair", PAIRS)
def test_every_row_past_warm_up_is_finite_and_clipped(pair: str) -> None:
    vectors = fingerprint.fingerprint_frame(candles(pair))
    assert vectors.shape[1] == fingerprint.DIM == len(fingerprint.FEATURES)
    assert np.isnan(vectors[: fingerprint.WARMUP - 1]).all()
    past = vectors[fingerprint.WARMUP - 1 :]
    assert np.isfinite(past).all()
    assert np.abs(past).max() <= fingerprint.CLIP
    # Each feature carries information: none is constant over 19 days of candles.
    assert (past.std(axis=0) > 0.05).all()


def test_flat_prices_and_no_volume_give_zeros_not_nan() -> None:
    rows = fingerprint.WARMUP + 50
    flat = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=rows, freq="5min", tz="UTC"),
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 0.0,
        }
    )
    vectors = fingerprint.fingerprint_frame(flat)
    past = vectors[fingerprint.WARMUP - 1 :]
    assert np.isfinite(past).all()
    rsi = fingerprint.FEATURES.index("rsi")
    others = [i for i in range(fingerprint.DIM) if i != rsi]
    assert (past[:, others] == 0).all()
    assert (past[:, rsi] == 0).all()  # no move either way: RSI 50


def test_a_missing_column_is_named() -> None:
    frame = candles("ADA_BTC").drop(columns=["volume", "low"])
    with pytest.raises(ValueError, match="lacks column\\(s\\) low, volume"):
        fingerprint.fingerprint_frame(frame)


def test_a_lookup_sees_only_candles_closed_by_then() -> None:
    frame = candles("ADA_BTC")
    series = MarketSeries.from_frame(frame, timedelta(minutes=5))
    vectors = fingerprint.fingerprint_frame(frame)
    row = 1000
    opened = pd.Timestamp(frame["date"].iloc[row]).to_pydatetime()
    closed = opened + timedelta(minutes=5)
    # At the candle's close it counts; a microsecond before, the previous candle is the last.
    assert np.array_equal(series.vector_at(closed), vectors[row])
    assert np.array_equal(series.vector_at(closed - timedelta(microseconds=1)), vectors[row - 1])
    assert series.vector_at(datetime(2000, 1, 1, tzinfo=UTC)) is None
    # fingerprint_at reads a frame by candle date, naive times taken as UTC.
    assert np.array_equal(fingerprint.fingerprint_at(frame, opened), vectors[row])
    naive = opened.replace(tzinfo=None) + timedelta(minutes=4)
    assert np.array_equal(fingerprint.fingerprint_at(frame, naive), vectors[row])
    assert fingerprint.fingerprint_at(frame, datetime(2000, 1, 1)) is None
    assert fingerprint.fingerprint_at(frame, frame["date"].iloc[5]) is None  # in warm-up


def test_descriptions_read_the_raw_features() -> None:
    phrase = fingerprint.describe_market(
        {"trend_z": 1.8, "vol_ratio": 1.9, "rsi": 71.2, "volume_z": 2.5}
    )
    assert phrase == "rising, high-volatility market, RSI 71, volume spike"
    assert fingerprint.describe_market({"trend_z": float("nan")}) == "unknown market"
    assert fingerprint.describe_market({"trend_z": -0.2, "vol_ratio": 0.5}) == (
        "sideways, quiet market"
    )
