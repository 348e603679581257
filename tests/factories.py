"""Builders of realistic memory records for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode

START = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = ("ADA/BTC", "ETH/BTC", "LTC/BTC")


def trade(i: int, **overrides: Any) -> MemoryRecord:
    """The i-th trade of a small deterministic history: three pairs, alternating sides."""
    pair = PAIRS[i % len(PAIRS)]
    side = "long" if i % 2 == 0 else "short"
    profit = round(((i * 37) % 21 - 10) / 4, 2)
    fields: dict[str, Any] = {
        "key": f"test-trade|{i}",
        "kind": MemoryKind.TRADE,
        "type": MemoryType.BACKTEST,
        "text": f"{pair} {side} closed {profit:+.2f}% by roi; entry in a quiet market #{i}",
        "strategy": "Alpha" if i % 3 else "Beta",
        "pair": pair,
        "side": side,
        "timeframe": "5m",
        "mode": RunMode.BACKTEST,
        "run_id": "run-1",
        "timestamp": START + timedelta(hours=i),
        "created_at": START + timedelta(hours=i, minutes=1),
        "metrics": {"profit": profit, "duration": 30.0 + i},
        "tags": ("roi",) if i % 2 else ("stop", "fast"),
        "market": tuple(float((i * (k + 3)) % 7 - 3) for k in range(fingerprint.DIM)),
        "fingerprint_version": fingerprint.FINGERPRINT_VERSION,
    }
    fields.update(overrides)
    return MemoryRecord(**fields)


def wire(**metadata: Any) -> dict[str, Any]:
    """A memory in the service's wire format."""
    meta = {
        "type": "backtest",
        "strategy": "MyStrategy",
        "timestamp": "2024-06-27T12:00:00Z",
        "metrics": {"profit": 12.5, "trades": 40, "win_rate": 0.6},
    }
    meta.update(metadata)
    return {
        "messages": [{"role": "system", "content": "MyStrategy backtest: +12.5%"}],
        "metadata": meta,
    }
