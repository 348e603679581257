"""The outbox: nothing lost, nothing doubled, never blocking, across store outages and restarts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import StoreLockedError, StoreUnavailableError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.outbox import DeliveryThread, Outbox
from tests.factories import trade


class FlakyStore:
    """Delivers to a real memory, but fails while `down` is set."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.down = False
        self.calls = 0

    def deliver(self, batch: list[MemoryRecord]) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailableError("store stopped")
        self.memory.remember(batch)


def test_put_does_no_io_and_flush_delivers_in_batches(edge_memory: Memory) -> None:
    store = FlakyStore(edge_memory)
    outbox = Outbox(store.deliver, batch_size=10)
    for i in range(35):
        outbox.put(trade(i))
    assert store.calls == 0 and outbox.pending == 35
    assert outbox.flush()
    assert store.calls == 4
    assert edge_memory.count() == 35 and outbox.pending == 0


def test_store_down_then_back_loses_and_doubles_nothing(edge_memory: Memory) -> None:
    store = FlakyStore(edge_memory)
    outbox = Outbox(store.deliver, batch_size=8)
    outbox.put_many(trade(i) for i in range(20))
    store.down = True
    assert not outbox.flush(force=True)
    assert outbox.pending == 20
    outbox.put_many(trade(i) for i in range(15, 30))  # overlaps: a retry of the same trades
    assert not outbox.flush()  # backing off: no attempt yet
    store.down = False
    assert outbox.flush(force=True)
    assert edge_memory.count() == 30


def test_journal_survives_a_restart(tmp_path: Path, edge_memory: Memory) -> None:
    store = FlakyStore(edge_memory)
    store.down = True
    first = Outbox(store.deliver, path=tmp_path / "outbox")
    first.put_many(trade(i) for i in range(12))
    first.flush(force=True)
    assert (tmp_path / "outbox" / "pending.jsonl").exists()
    del first  # the bot dies with the store still down
    store.down = False
    second = Outbox(store.deliver, path=tmp_path / "outbox")
    assert second.pending == 12
    assert second.flush()
    assert edge_memory.count() == 12
    assert (tmp_path / "outbox" / "pending.jsonl").read_text() == ""
    assert [r.id for r in edge_memory.get_many([trade(3).id])] == [trade(3).id]


def test_torn_last_line_is_skipped(tmp_path: Path, edge_memory: Memory) -> None:
    journal = tmp_path / "pending.jsonl"
    journal.write_text(trade(1).model_dump_json() + "\n" + trade(2).model_dump_json()[:40])
    outbox = Outbox(FlakyStore(edge_memory).deliver, path=tmp_path)
    assert outbox.pending == 1


def test_locked_store_is_temporary(edge_memory: Memory) -> None:
    def locked(batch: list[MemoryRecord]) -> None:
        raise StoreLockedError("held by another process")

    outbox = Outbox(locked)
    outbox.put(trade(1))
    assert not outbox.flush(force=True)
    assert outbox.pending == 1


def test_delivery_thread_delivers_in_the_background(tmp_path: Path) -> None:
    memory = Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder())
    try:
        store = FlakyStore(memory)
        outbox = Outbox(store.deliver, path=tmp_path / "outbox")
        thread = DeliveryThread(outbox, interval=0.05)
        thread.start()
        outbox.put_many(trade(i) for i in range(5))
        thread.wake()
        deadline = time.monotonic() + 10
        while outbox.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        thread.stop()
        assert memory.count() == 5
    finally:
        memory.close()


def test_waiting_from_a_position_spans_pending_and_new_memories(tmp_path: Path) -> None:
    outbox = Outbox(lambda batch: None, path=tmp_path / "outbox")
    outbox.put_many(trade(i) for i in range(3))
    outbox.flush()  # journaled: now pending, so later ones are in a second list
    outbox.put_many(trade(i) for i in range(3, 5))
    keys = [r.key for r in outbox.waiting()]
    assert [r.key for r in outbox.waiting(0)] == keys
    assert [r.key for r in outbox.waiting(2)] == keys[2:]
    assert [r.key for r in outbox.waiting(4)] == keys[4:]
    assert outbox.waiting(5) == []


def test_delivery_thread_prepares_while_there_is_more_and_delivers_on_stop(
    tmp_path: Path,
) -> None:
    memory = Memory.open(str(tmp_path / "store"), embedder=HashingEmbedder())
    try:
        outbox = Outbox(FlakyStore(memory).deliver)
        chunks = [3, 2, 0]  # what each call prepares; 0: nothing left

        def ahead() -> bool:
            return chunks.pop(0) > 0 if chunks else False

        thread = DeliveryThread(outbox, interval=60, ahead=ahead)
        outbox.put_many(trade(i) for i in range(2))
        thread.start()
        deadline = time.monotonic() + 10
        while chunks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert chunks == []  # called again after each chunk, until nothing was left
        assert memory.count() == 0  # preparing writes nothing
        thread.stop()
        assert memory.count() == 2  # the delivery happens on stop
    finally:
        memory.close()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device")])
def test_full_disk_on_delivery_keeps_memories(failure: Exception, edge_memory: Memory) -> None:
    def full(batch: list[MemoryRecord]) -> None:
        raise failure

    outbox = Outbox(full)
    outbox.put(trade(1))
    assert not outbox.flush(force=True)
    assert outbox.pending == 1
