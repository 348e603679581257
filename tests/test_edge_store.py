"""What only the embedded store does: persistence, the process lock, its own folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import IncompatibleStoreError, StoreLockedError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import eq
from tests.factories import trade

OPEN_IN_CHILD = """
import sys
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import StoreLockedError
from freqtrade_mem0.memory import Memory
try:
    Memory.open(sys.argv[1], embedder=HashingEmbedder())
except StoreLockedError as exc:
    print(exc)
    sys.exit(42)
"""


def test_memories_survive_close_and_reopen(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(50)])
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        assert memory.count() == 50
        assert memory.get(trade(7).id) == trade(7)


def test_second_process_gets_a_clear_locked_error(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    with Memory.open(location, embedder=HashingEmbedder()):
        child = subprocess.run(
            [sys.executable, "-c", OPEN_IN_CHILD, location],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert child.returncode == 42, child.stderr
    assert "another process" in child.stdout
    assert "freqtrade-mem0 serve" in child.stdout


def test_second_open_in_the_same_process_is_locked_too(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    with Memory.open(location, embedder=HashingEmbedder()), pytest.raises(StoreLockedError):
        Memory.open(location, embedder=HashingEmbedder())


def test_store_made_by_another_embedder_is_refused(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    Memory.open(location, embedder=HashingEmbedder()).close()
    with pytest.raises(IncompatibleStoreError, match="text_dim=384"):
        Memory.open(location, embedder=HashingEmbedder(dim=128))


def test_foreign_shard_is_refused(tmp_path: Path) -> None:
    (tmp_path / "store" / "shard").mkdir(parents=True)
    (tmp_path / "store" / "shard" / "something").write_text("x")
    with pytest.raises(IncompatibleStoreError, match="not made by freqtrade-mem0"):
        Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder())


def test_default_location_is_under_user_data(tmp_path: Path) -> None:
    with Memory.open(settings=Settings(), embedder=HashingEmbedder(), user_data_dir=tmp_path) as m:
        assert m.store.location == str(tmp_path / "mem0")
    assert (tmp_path / "mem0" / "store.json").exists()


def test_payload_indexes_are_created(tmp_path: Path) -> None:
    with Memory.open(str(tmp_path / "s"), embedder=HashingEmbedder()) as memory:
        indexes = memory.status().payload_indexes
    for field in ("strategy", "pair", "timestamp", "metrics.profit", "run_id", "text"):
        assert field in indexes


def test_a_store_made_before_texts_were_indexed_gets_the_index_at_its_first_open(
    tmp_path: Path,
) -> None:
    import qdrant_edge as qe

    location = str(tmp_path / "s")
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(5)])
        memory.store.shard.update(qe.UpdateOperation.delete_field_index("text"))
        assert "text" not in memory.status().payload_indexes
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        assert "text" in memory.status().payload_indexes
        assert memory.count() == 5
        found = memory.stored_text_vectors([trade(3).text], eq("strategy", trade(3).strategy))
        assert list(found) == [trade(3).text]


def test_texts_are_indexed_on_disk_also_after_optimize(tmp_path: Path) -> None:
    """An index held in RAM is read whole at every open; the text index is read only when a
    backtest runs again."""
    import qdrant_edge as qe

    location = str(tmp_path / "s")
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(40)])
        memory.store.optimize()
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        index = memory.store.shard.info().payload_schema["text"]
        assert index.params.memory is qe.Memory.Cached
        found = memory.stored_text_vectors([trade(7).text], eq("strategy", trade(7).strategy))
        assert list(found) == [trade(7).text]


def test_a_store_with_its_text_index_in_ram_has_it_remade_on_disk_at_its_first_open(
    tmp_path: Path,
) -> None:
    import qdrant_edge as qe

    location = str(tmp_path / "s")
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(5)])
        shard = memory.store.shard
        shard.update(qe.UpdateOperation.delete_field_index("text"))  # as made until then:
        shard.update(qe.UpdateOperation.create_field_index("text", qe.PayloadSchemaType.Keyword))
        assert shard.info().payload_schema["text"].params is None
    with Memory.open(location, embedder=HashingEmbedder()) as memory:
        assert memory.store.shard.info().payload_schema["text"].params.memory is qe.Memory.Cached
        assert memory.count() == 5
        found = memory.stored_text_vectors([trade(2).text], eq("strategy", trade(2).strategy))
        assert list(found) == [trade(2).text]


def test_optimized_store_returns_the_exact_filtered_neighbours(tmp_path: Path) -> None:
    """After optimize() candidates are scored on int8 copies; rescoring on the original
    vectors must still return the exact filtered top 10 (numpy's answer), across segments."""
    import numpy as np

    from freqtrade_mem0.query import and_, eq
    from freqtrade_mem0.stores import TEXT_VECTOR, StoredPoint, StoreSpec
    from freqtrade_mem0.stores.edge import EdgeStore

    rng = np.random.default_rng(3)
    n, dim = 9000, 384  # the optimizer leaves segments under ~10 MB of vectors as they are
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sides = rng.integers(0, 2, n)
    strategies = rng.integers(0, 3, n)
    points = [
        StoredPoint(
            id=f"00000000-0000-5000-8000-{i:012d}",
            payload={"strategy": f"S{strategies[i]}", "side": ("long", "short")[sides[i]]},
            vectors={TEXT_VECTOR: vectors[i].tolist()},
        )
        for i in range(n)
    ]
    spec = StoreSpec(text_dim=dim, market_dim=10, embedder="test", fingerprint_version=1)
    store = EdgeStore(tmp_path / "store", spec)
    store.upsert(points[:8000])
    store.optimize()
    store.upsert(points[8000:])  # these land in a new appendable segment
    status = store.status()
    assert status.points == n
    assert status.indexed_vectors >= 8000

    for q in range(12):
        query = rng.standard_normal(dim).astype(np.float32)
        query /= np.linalg.norm(query)
        strategy, side = q % 3, q % 2
        rows = np.flatnonzero((strategies == strategy) & (sides == side))
        exact = rows[np.argsort(-(vectors[rows] @ query))[:10]]
        where = and_(eq("strategy", f"S{strategy}"), eq("side", ("long", "short")[side]))
        hits = store.search(query.tolist(), using=TEXT_VECTOR, where=where, limit=10)
        assert [h.point.id for h in hits] == [points[i].id for i in exact]
        assert [round(h.score, 4) for h in hits] == [
            round(float(vectors[i] @ query), 4) for i in exact
        ]
    store.close()


def test_a_store_made_with_the_earlier_layout_adopts_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores made when optimize() built an HNSW graph (minutes at 100k memories) optimize
    without one, with int8 vectors, once reopened; their memories stay."""
    import json

    import qdrant_edge as qe

    from freqtrade_mem0.stores.edge import EdgeStore

    def earlier_layout(self: EdgeStore) -> qe.EdgeConfig:
        return qe.EdgeConfig(vectors=current(self).vectors)

    current = EdgeStore._config
    monkeypatch.setattr(EdgeStore, "_config", earlier_layout)
    with Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(5)])
    config_file = tmp_path / "store" / "shard" / "edge_config.json"
    assert "quantization_config" not in json.loads(config_file.read_text())

    monkeypatch.setattr(EdgeStore, "_config", current)
    with Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder()) as memory:
        assert memory.count() == 5
    config = json.loads(config_file.read_text())
    assert config["hnsw_config"]["m"] == 0
    assert config["quantization_config"]["scalar"]["type"] == "int8"


def test_strategy_and_time_indexes_take_the_tenant_layout_at_optimize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New stores group points by strategy and order them by time; a store made before gets
    those indexes at its next optimize(), and answers the same."""
    from freqtrade_mem0.stores import edge

    def layout(store: edge.EdgeStore) -> dict[str, bool]:
        indexes = store.shard.info().payload_schema
        return {key: indexes[key].params is not None for key in ("strategy", "timestamp")}

    with Memory.open(str(tmp_path / "new"), embedder=HashingEmbedder()) as memory:
        assert isinstance(memory.store, edge.EdgeStore)
        assert layout(memory.store) == {"strategy": True, "timestamp": True}

    plain = {key: edge._SCHEMAS[schema] for key, schema in edge.PAYLOAD_INDEXES.items()}
    monkeypatch.setattr(edge, "_index_schema", plain.__getitem__)  # the earlier layout
    with Memory.open(str(tmp_path / "old"), embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(30)])
        assert isinstance(memory.store, edge.EdgeStore)
        assert layout(memory.store) == {"strategy": False, "timestamp": False}
    monkeypatch.undo()

    query = "strategy:Alpha AND timestamp:[2024-01-01 TO 2024-12-31] quiet market"
    with Memory.open(str(tmp_path / "old"), embedder=HashingEmbedder()) as memory:
        before = [(hit.record.id, round(hit.score, 5)) for hit in memory.search(query, limit=5)]
        assert before
        memory.optimize()
        assert isinstance(memory.store, edge.EdgeStore)
        assert layout(memory.store) == {"strategy": True, "timestamp": True}
        after = [(hit.record.id, round(hit.score, 5)) for hit in memory.search(query, limit=5)]
        assert after == before and memory.count() == 30
