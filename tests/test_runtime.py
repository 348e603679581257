"""The strategy's runtime in a simulated run: texts embedded beside the simulation, written at
the flush, never embedded twice, nor again when a run repeats them."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.models import RunMode
from freqtrade_mem0.runtime import AHEAD_CHUNK, SIMULATED_BATCH, MemoryRuntime, RunIdentity
from tests.factories import trade


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, noting which thread embedded which texts."""

    loaded = True  # as MiniLMEmbedder says once its model is in memory

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[str]]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append((threading.current_thread().name, list(texts)))
        return super().embed(texts)

    def embedded(self) -> set[str]:
        return {text for _, batch in self.calls for text in batch}


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def backtest_runtime(root: Path, embedder: RecordingEmbedder) -> MemoryRuntime:
    """The runtime of a backtest whose memories go to an embedded store under `root`."""
    identity = RunIdentity("Alpha", RunMode.BACKTEST, "run-1", "binance", "5m", root)
    settings = Settings(store=str(root / "store"), embedder="hashing")
    return MemoryRuntime(settings, identity, embedder=embedder)


def test_a_backtest_leaves_a_model_not_yet_loaded_to_the_flush(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    embedder.loaded = False
    runtime = backtest_runtime(tmp_path, embedder)
    try:
        records = [trade(i) for i in range(2 * SIMULATED_BATCH)]
        for record in records:
            runtime.put(record)
        time.sleep(0.3)  # the delivery thread has been woken twice meanwhile
        assert embedder.calls == []
        assert runtime.flush()
        assert {name for name, _ in embedder.calls} == {threading.current_thread().name}
        assert embedder.embedded() == {r.text for r in records}
    finally:
        runtime.close()


def test_a_backtest_embeds_ahead_and_writes_only_at_the_flush(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    runtime = backtest_runtime(tmp_path, embedder)
    try:
        records = [trade(i) for i in range(SIMULATED_BATCH)]
        for record in records:
            runtime.put(record)
        texts = {r.text for r in records}
        embedded = embedder.embedded
        wait_for(lambda: embedded() >= texts)
        assert embedded() >= texts
        assert {name for name, _ in embedder.calls} == {"mem0-outbox"}
        memory = runtime.memory()
        assert memory is not None and memory.count() == 0  # written at the flush, not before
        calls = len(embedder.calls)
        runtime.put(trade(SIMULATED_BATCH))  # one more, left for the flush to embed
        assert runtime.flush()
        assert memory.count() == SIMULATED_BATCH + 1
        # The flush embedded only the text not embedded ahead, and the vectors stored are
        # the embedder's own.
        flushed = [batch for _, batch in embedder.calls[calls:]]
        assert all(set(batch) <= {trade(SIMULATED_BATCH).text} for batch in flushed)
        stored = memory.store.retrieve([records[0].id], with_vectors=True)[0]
        expected = HashingEmbedder().embed([records[0].text])[0]
        assert np.allclose(stored.vectors["text"], expected, atol=1e-6)
    finally:
        runtime.close()


def test_a_backtest_embeds_ahead_a_chunk_at_a_time_and_keeps_pace(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    runtime = backtest_runtime(tmp_path, embedder)
    try:
        records = [trade(i) for i in range(3 * AHEAD_CHUNK)]
        for record in records:
            runtime.put(record)
        texts = {r.text for r in records}
        embedded = embedder.embedded
        # The thread is woken by every SIMULATED_BATCH new memories: fewer than that may be
        # left to the flush.
        wait_for(lambda: len(embedded()) > len(texts) - SIMULATED_BATCH)
        assert len(embedded()) > len(texts) - SIMULATED_BATCH
        assert max(len(batch) for _, batch in embedder.calls) <= AHEAD_CHUNK
        assert runtime.flush()
        assert embedded() == texts  # every text, each once
        assert sum(len(batch) for _, batch in embedder.calls) == len(texts)
    finally:
        runtime.close()


def test_a_backtest_run_again_reads_back_the_vectors_of_its_texts(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    count = 2 * SIMULATED_BATCH
    first = backtest_runtime(tmp_path, embedder)
    try:
        for i in range(count):
            first.put(trade(i, strategy="Alpha"))
        assert first.flush()
    finally:
        first.close()
    embedder.calls.clear()
    # The same trades closed again in a run of another id, and one trade that is new.
    rerun = [trade(i, strategy="Alpha", key=f"again|{i}") for i in range(count)]
    new = trade(count, strategy="Alpha")
    again = backtest_runtime(tmp_path, embedder)
    try:
        for record in [*rerun, new]:
            again.put(record)
        assert again.flush()
        assert embedder.embedded() == {new.text}
        memory = again.memory()
        assert memory is not None and memory.count() == 2 * count + 1
        stored = memory.store.retrieve([rerun[0].id], with_vectors=True)[0]
        own = HashingEmbedder().embed([rerun[0].text])[0]
        assert np.allclose(stored.vectors["text"], own, atol=1e-6)
    finally:
        again.close()


def test_live_delivery_writes_from_its_thread(tmp_path: Path) -> None:
    identity = RunIdentity("Alpha", RunMode.DRY_RUN, "dry:bot", "binance", "5m", tmp_path)
    settings = Settings(store=str(tmp_path / "store"), embedder="hashing")
    runtime = MemoryRuntime(settings, identity, embedder=HashingEmbedder())
    try:
        runtime.put(trade(0))
        runtime.wake()
        memory = runtime.memory()
        assert memory is not None
        wait_for(lambda: memory.count() == 1)
        assert memory.count() == 1
    finally:
        runtime.close()
