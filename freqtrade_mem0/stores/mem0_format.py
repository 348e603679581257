"""How the package's points are kept as Mem0 memories, and Mem0's history rows for them.

A point's payload becomes a Mem0 memory's metadata, flat, beside the keys Mem0 owns: the text
moves to `data` (where Mem0 keeps a memory's text), the record's own free-form `data` to
`ft_data`, the market fingerprint to `ft_market`, and the strategy is also the memory's
`agent_id`. `run_id` is shared: the record's run is the Mem0 run.
"""

from __future__ import annotations

import hashlib
from typing import Any

from freqtrade_mem0.errors import InvalidMemoryError
from freqtrade_mem0.stores.base import MARKET_VECTOR, TEXT_VECTOR, StoredPoint

MARK = "freqtrade_mem0"  # "record" on our memories, "fact" on what Mem0's LLM derived from them
RECORD, FACT = "record", "fact"
SOURCE = "source_id"  # on a fact: the id of its record
MARKET_KEY = "ft_market"
DATA_KEY = "ft_data"  # a record's free-form `data`: Mem0 keeps the memory's text in `data`
MEM0_KEYS = frozenset(
    {"data", "hash", "updated_at", "text_lemmatized", "agent_id", "role", "actor_id", MARK}
)


def entity_id(value: str) -> str:
    """A name as a Mem0 entity id (`agent_id`, `run_id`): Mem0 refuses whitespace in them."""
    return "_".join(value.split())


def to_mem0_payload(point: StoredPoint, now: str) -> dict[str, Any]:
    """A point's payload as a Mem0 memory's: text in `data`, strategy as `agent_id`."""
    payload = dict(point.payload)
    text = str(payload.pop("text", ""))
    own_data = payload.pop("data", None)
    converted = {**payload, "data": text, "hash": hashlib.md5(text.encode()).hexdigest()}
    converted.update({"updated_at": now, MARK: RECORD})
    if own_data is not None:
        converted[DATA_KEY] = own_data
    if isinstance(payload.get("strategy"), str):
        converted["agent_id"] = entity_id(payload["strategy"])
    market = point.vectors.get(MARKET_VECTOR)
    if market is not None:
        converted[MARKET_KEY] = [float(x) for x in market]
    return converted


def from_mem0(record: Any) -> StoredPoint:
    """A Mem0 memory written by `upsert` back as a point."""
    stored = dict(record.payload or {})
    market = stored.pop(MARKET_KEY, None)
    payload = {k: v for k, v in stored.items() if k not in MEM0_KEYS and k != DATA_KEY}
    payload["text"] = stored.get("data", "")
    if DATA_KEY in stored:
        payload["data"] = stored[DATA_KEY]
    vectors: dict[str, list[float]] = {}
    dense = record.vector.get("") if isinstance(record.vector, dict) else record.vector
    if dense is not None:
        vectors[TEXT_VECTOR] = [float(x) for x in dense]
    if market is not None and record.vector is not None:
        vectors[MARKET_VECTOR] = [float(x) for x in market]
    return StoredPoint(id=str(record.id), payload=payload, vectors=vectors)


def text_vector(point: StoredPoint) -> list[float]:
    vector = point.vectors.get(TEXT_VECTOR)
    if vector is None:
        raise InvalidMemoryError(f"point {point.id}: the mem0 backend needs a text vector")
    return [float(x) for x in vector]


def same(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return False
    return {k: v for k, v in old.items() if k != "updated_at"} == {
        k: v for k, v in new.items() if k != "updated_at"
    }


def history_row(memory_id: str, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A Mem0 history row, as `Memory._create_memory` / `_update_memory` write them."""
    return {
        "memory_id": memory_id,
        "old_memory": None if old is None else old.get("data"),
        "new_memory": new["data"],
        "event": "ADD" if old is None else "UPDATE",
        "created_at": new.get("created_at"),
        "updated_at": new["updated_at"],
    }


def deleted_row(record: Any, now: str) -> dict[str, Any]:
    payload = record.payload or {}
    return {
        "memory_id": str(record.id),
        "old_memory": payload.get("data"),
        "new_memory": None,
        "event": "DELETE",
        "created_at": payload.get("created_at"),
        "updated_at": now,
        "is_deleted": 1,
    }
