"""Records: validation that names the field, deterministic ids, the wire format."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from freqtrade_mem0.errors import InvalidMemoryError
from freqtrade_mem0.models import (
    MemoryKind,
    MemoryRecord,
    MemoryType,
    memory_id,
    parse_create,
    parse_record,
)
from freqtrade_mem0.records import note_record
from tests.factories import trade, wire


def test_wire_memory_becomes_a_typed_record() -> None:
    record = parse_create(wire(pair="ADA/BTC", custom_note="kept")).to_record()
    assert record.type is MemoryType.BACKTEST
    assert record.kind is MemoryKind.SUMMARY
    assert record.metrics == {"profit": 12.5, "trades": 40, "win_rate": 0.6}
    assert record.timestamp == datetime(2024, 6, 27, 12, tzinfo=UTC)
    assert record.data == {"custom_note": "kept"}
    assert record.text == "MyStrategy backtest: +12.5%"


def test_same_wire_memory_has_the_same_id_and_different_content_another() -> None:
    first = parse_create(wire()).to_record()
    assert parse_create(wire()).to_record().id == first.id
    assert parse_create(wire(strategy="Other")).to_record().id != first.id


def test_explicit_key_decides_the_id() -> None:
    record = parse_create(wire(key="run-42|MyStrategy")).to_record()
    assert record.id == memory_id("run-42|MyStrategy")


def test_public_form_round_trips_to_the_same_record() -> None:
    record = trade(3)
    public = record.to_public().model_dump(mode="json")
    again = parse_create({"messages": public["messages"], "metadata": public["metadata"]})
    rebuilt = again.to_record()
    assert rebuilt.id == record.id
    assert rebuilt.model_dump(exclude={"created_at"}) == record.model_dump(exclude={"created_at"})


def test_payload_round_trip() -> None:
    record = trade(5)
    assert MemoryRecord.from_payload(record.to_payload(), record.market) == record


def test_timestamps_are_normalised_to_utc() -> None:
    offset = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert trade(0, timestamp=offset).timestamp == datetime(2024, 1, 1, 10, tzinfo=UTC)


def _without(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    target = raw
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return raw


@pytest.mark.parametrize(
    ("raw", "field", "hint"),
    [
        (_without(wire(), "messages"), "messages", "Field required"),
        ({**wire(), "messages": []}, "messages", "at least 1"),
        (
            {**wire(), "messages": [{"role": "system", "content": "  "}]},
            "messages.0.content",
            "blank",
        ),
        (wire(timestamp="2024-06-27T12:00:00"), "metadata.timestamp", "Z or +00:00"),
        (wire(timestamp="yesterday"), "metadata.timestamp", "datetime"),
        (wire(type="paper"), "metadata.type", "'backtest', 'live' or 'analysis'"),
        (_without(wire(), "metadata", "strategy"), "metadata.strategy", "Field required"),
        (wire(metrics={"profit": math.nan}), "metadata.metrics.profit", "finite"),
        (wire(metrics={"profit": math.inf}), "metadata.metrics.profit", "finite"),
        (wire(metrics={"profit": "lots"}), "metadata.metrics.profit", "number"),
        (wire(mode="paper"), "metadata.mode", "live"),
        ({**wire(), "extra": 1}, "extra", "Extra inputs"),
    ],
)
def test_bad_wire_input_names_the_field(raw: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(InvalidMemoryError) as info:
        parse_create(raw)
    assert f"{field}:" in str(info.value)
    assert hint in str(info.value)


def test_record_refuses_nan_in_data_and_bad_metric_names() -> None:
    base = trade(1).model_dump()
    with pytest.raises(InvalidMemoryError, match=r"data\.x\.y is nan"):
        parse_record({**base, "data": {"x": {"y": math.nan}}})
    with pytest.raises(InvalidMemoryError, match="metric name"):
        parse_record({**base, "metrics": {"pro fit": 1.0}})
    with pytest.raises(InvalidMemoryError, match="market"):
        parse_record({**base, "market": (1.0, math.nan)})


def test_record_is_immutable() -> None:
    record = trade(1)
    with pytest.raises(ValueError, match="frozen"):
        record.strategy = "x"  # type: ignore[misc]


def test_data_cannot_shadow_a_field() -> None:
    # The wire format writes data beside the fields: a shadowing key would come back from an
    # export or a backup as the field, not as the record that was stored.
    with pytest.raises(ValueError, match="data may not hold exit_reason, side: each is a field"):
        trade(1, data={"side": "long", "exit_reason": "roi", "note": "fine"})


def test_note_metadata_that_names_a_field_sets_it() -> None:
    record = note_record(
        "breakout on volume",
        strategy="S",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        data={"side": "long", "timeframe": "5m", "why": "volume"},
    )
    assert (record.side, record.timeframe, record.data) == ("long", "5m", {"why": "volume"})
    public = record.to_public().model_dump(mode="json", include={"messages", "metadata"})
    assert parse_create(public).to_record().model_dump(exclude={"key", "created_at"}) == (
        record.model_dump(exclude={"key", "created_at"})
    )
