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
    for field in ("strategy", "pair", "timestamp", "metrics.profit", "run_id"):
        assert field in indexes
