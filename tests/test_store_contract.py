"""The store contract: the same assertions on every backend (see conftest.BACKENDS)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest

from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import NotFoundError, StoreUnavailableError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import any_of, eq
from tests.factories import START, trade


def test_remember_and_get_round_trip(memory: Memory) -> None:
    record = trade(1)
    memory.remember(record)
    stored = memory.get(record.id)
    assert stored == record
    assert stored.market == record.market


def test_same_memory_twice_is_one_memory(memory: Memory) -> None:
    memory.remember([trade(1), trade(1)])
    memory.remember(trade(1))
    assert memory.count() == 1


def test_skip_existing_writes_nothing_new(memory: Memory) -> None:
    first = memory.remember([trade(i) for i in range(5)])
    again = memory.remember([trade(i) for i in range(7)], skip_existing=True)
    assert len(first.written) == 5
    assert sorted(again.skipped) == sorted(trade(i).id for i in range(5))
    assert again.written == [trade(5).id, trade(6).id]
    assert memory.count() == 7


def test_get_unknown_id_raises_not_found(memory: Memory) -> None:
    with pytest.raises(NotFoundError, match="no memory with id"):
        memory.get(trade(99).id)


def test_count_and_filters(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(30)])
    assert memory.count() == 30
    assert memory.count("pair:ADA/BTC") == 10
    assert memory.count("strategy:Beta AND side:long") == sum(
        1 for i in range(30) if i % 3 == 0 and i % 2 == 0
    )
    expected = sum(1 for i in range(30) if trade(i).metrics["profit"] > 1.0)
    assert memory.count("profit:>1.0") == expected
    assert memory.count("tags:fast") == 15
    assert memory.count("timestamp:[2024-01-01 TO 2024-01-01]") == 24


def test_ids_of_a_filter_are_those_of_its_memories(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(30)])
    expected = {trade(i).id for i in range(30) if i % 3 == 0}
    assert set(memory.ids("strategy:Beta", batch_size=4)) == expected
    assert len(list(memory.ids(batch_size=7))) == 30


def test_delete_by_ids_ignores_unknown(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(5)])
    gone = memory.delete([trade(0).id, trade(1).id, trade(50).id])
    assert sorted(gone) == sorted([trade(0).id, trade(1).id])
    assert memory.count() == 3


def test_delete_where_returns_count_and_keeps_the_rest(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(12)])
    assert memory.delete_where("pair:ETH/BTC") == 4
    assert memory.count() == 8
    assert memory.count("pair:ETH/BTC") == 0
    removed = memory.delete_where(None, older_than=START + timedelta(hours=5))
    assert removed == sum(1 for i in range(12) if i < 5 and i % 3 != 1)


def test_text_search_finds_the_closest_text(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(20)])
    note = trade(100, text="volume spike then a sharp reversal on ETH", pair="ETH/BTC")
    memory.remember(note)
    hits = memory.search("sharp reversal after a volume spike", limit=3)
    assert hits[0].record.id == note.id
    assert hits[0].score is not None
    assert hits[0].score >= hits[1].score  # type: ignore[operator]


def test_text_search_respects_the_filter(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(20)])
    hits = memory.search("pair:LTC/BTC quiet market", limit=50)
    assert hits
    assert {h.record.pair for h in hits} == {"LTC/BTC"}


def test_market_search_orders_by_distance(memory: Memory) -> None:
    records = [trade(i) for i in range(20)]
    memory.remember(records)
    probe = np.asarray(records[7].market)
    hits = memory.search(market=probe, limit=5)
    distances = [float(np.linalg.norm(np.asarray(h.record.market) - probe)) for h in hits]
    # trades 0, 7 and 14 share a fingerprint in this history, so three hits sit at zero
    assert distances[:3] == [0.0, 0.0, 0.0]
    assert {h.record.id for h in hits[:3]} == {records[i].id for i in (0, 7, 14)}
    assert distances == sorted(distances)
    assert hits[1].score == pytest.approx(distances[1], rel=1e-4)


def test_fused_search_uses_text_and_market(memory: Memory) -> None:
    records = [trade(i) for i in range(20)]
    memory.remember(records)
    hits = memory.search("quiet market #7", market=records[7].market, limit=3)
    assert hits[0].record.id == records[7].id


def test_filter_only_search_is_newest_first_and_paginates(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(10)])
    page1 = memory.search("strategy:Alpha", limit=3)
    page2 = memory.search("strategy:Alpha", limit=3, offset=3)
    times = [h.record.timestamp for h in page1 + page2]
    assert times == sorted(times, reverse=True)
    assert len({h.record.id for h in page1 + page2}) == 6
    assert all(h.score is None for h in page1)


def test_type_shorthand(memory: Memory) -> None:
    memory.remember([trade(1), trade(2, type="live", key="live-2")])
    assert [h.record.key for h in memory.search(type="live")] == ["live-2"]


def test_iterate_pages_through_everything_once(memory: Memory) -> None:
    records = [trade(i) for i in range(300)]
    memory.remember(records, batch_size=64)
    seen = [r.id for r in memory.iterate(batch_size=37)]
    assert sorted(seen) == sorted(r.id for r in records)


def test_stats_facets_and_span(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(9)])
    stats = memory.stats()
    assert stats["total"] == 9
    assert stats["by_pair"] == {"ADA/BTC": 3, "ETH/BTC": 3, "LTC/BTC": 3}
    assert stats["by_strategy"] == {"Alpha": 6, "Beta": 3}
    assert stats["first"].startswith("2024-01-01T00:00")
    assert stats["last"].startswith("2024-01-01T08:00")
    assert memory.stats("pair:ADA/BTC")["total"] == 3


def test_status_reports_points(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(4)])
    status = memory.status()
    assert status.points == 4
    assert status.healthy


def test_export_import_round_trip(memory: Memory, tmp_path_factory: pytest.TempPathFactory) -> None:
    records = [trade(i) for i in range(15)]
    memory.remember(records)
    out = io.StringIO()
    assert memory.export_jsonl(out, "pair:ADA/BTC") == 5
    target = Memory.open(
        str(tmp_path_factory.mktemp("target") / "store"), embedder=HashingEmbedder()
    )
    try:
        result = target.import_jsonl(out.getvalue().splitlines())
        assert len(result.written) == 5
        again = target.import_jsonl(out.getvalue().splitlines())
        assert target.count() == 5 and len(again.written) == 5
        for record in records[::3]:
            assert target.get(record.id) == record
    finally:
        target.close()


def test_closed_store_is_unavailable(memory: Memory) -> None:
    memory.close()
    memory.close()  # safe twice
    with pytest.raises(StoreUnavailableError, match="closed"):
        memory.count()


def test_builder_filters(memory: Memory) -> None:
    memory.remember([trade(i) for i in range(6)])
    assert memory.count(eq("pair", "ADA/BTC")) == 2


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, keeping every text it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().embed(texts)


# Where a text already stored is matched and its vector read back, not embedded again: Qdrant
# keeps texts in clear; the service's query language has no text field, and Mem0 keeps the
# text as its `data`, so there every text is embedded, as without reuse.
REUSES_STORED_VECTORS = {"edge": True, "qdrant-memory": True, "mem0": False, "http": False}


def test_a_text_stored_already_is_not_embedded_again(memory: Memory, backend: str) -> None:
    first = [trade(i) for i in range(4)]
    memory.remember(first)
    embedder = memory.embedder = CountingEmbedder()
    # The same trades in another run (other ids), and one trade that is new.
    rerun = [trade(i, key=f"rerun|{i}", run_id="run-2") for i in range(4)] + [trade(9)]
    memory.remember(rerun, reuse_where=any_of("strategy", ["Alpha", "Beta"]))
    if REUSES_STORED_VECTORS[backend]:
        assert embedder.texts == [trade(9).text]
    else:
        assert sorted(embedder.texts) == sorted(r.text for r in rerun)
    assert memory.count() == 9
    # Either way every memory holds its text's own vector, and search finds it.
    stored = memory.store.retrieve([r.id for r in rerun], with_vectors=True)
    assert len(stored) == len(rerun)
    for point in stored:
        own = HashingEmbedder().embed([point.payload["text"]])[0]
        assert np.allclose(point.vectors["text"], own, atol=1e-6)
    assert memory.search(trade(2).text, limit=1)[0].record.text == trade(2).text


def test_vectors_are_reused_only_from_the_memories_named(edge_memory: Memory) -> None:
    edge_memory.remember([trade(i) for i in range(3)])  # strategies Beta, Alpha, Alpha
    embedder = edge_memory.embedder = CountingEmbedder()
    rerun = [trade(i, key=f"rerun|{i}") for i in range(3)]
    edge_memory.remember(rerun, reuse_where=eq("strategy", "Beta"))
    assert sorted(embedder.texts) == sorted([trade(1).text, trade(2).text])
    edge_memory.remember([trade(i, key=f"third|{i}") for i in range(3)])  # no reuse asked
    assert len(embedder.texts) == 2 + 3


def test_texts_stored_by_many_runs_are_all_found(edge_memory: Memory) -> None:
    for run in range(6):  # each text six times: more copies than one page of the lookup holds
        edge_memory.remember([trade(i, key=f"run{run}|{i}", strategy="Alpha") for i in range(5)])
    embedder = edge_memory.embedder = CountingEmbedder()
    rerun = [trade(i, key=f"rerun|{i}", strategy="Alpha") for i in range(5)]
    edge_memory.remember(rerun, reuse_where=eq("strategy", "Alpha"))
    assert embedder.texts == []
    assert edge_memory.count() == 7 * 5
