"""Backups as a library (`freqtrade_mem0.backup`); the service's routes are in test_service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freqtrade_mem0 import backup
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import BackupError, IncompatibleStoreError, NotFoundError
from freqtrade_mem0.memory import Memory
from tests.factories import trade

RECORDS = [trade(i) for i in range(40)]


@pytest.fixture
def made(edge_memory: Memory, tmp_path: Path) -> backup.BackupInfo:
    edge_memory.remember(RECORDS)
    return backup.create_backup(edge_memory, tmp_path / "backups")


def test_a_backup_restores_every_memory_as_it_was(made: backup.BackupInfo, tmp_path: Path) -> None:
    assert made.count == 40
    assert backup.list_backups(tmp_path / "backups") == [made]
    assert backup.verify_backup(made.path) == made

    def no_embedding(texts: Any) -> np.ndarray:
        raise AssertionError("the same embedder's vectors come from the backup")

    with Memory.open(":memory:", embedder=HashingEmbedder()) as target:
        embed = target.embedder.embed
        target.embedder.embed = no_embedding  # type: ignore[method-assign]
        result = backup.restore_backup(target, made.path)
        target.embedder.embed = embed  # type: ignore[method-assign]
        assert (result.restored, result.reembedded) == (40, False)
        assert [target.get(r.id) for r in RECORDS] == RECORDS
        assert target.search("quiet market #7", limit=1)[0].record.id == RECORDS[7].id


def test_another_embedder_embeds_the_texts_again(made: backup.BackupInfo) -> None:
    with Memory.open(":memory:", embedder=HashingEmbedder(dim=64)) as target:
        result = backup.restore_backup(target, made.path)
        assert result.reembedded
        assert target.get(RECORDS[3].id).market == RECORDS[3].market


def test_replace_leaves_exactly_the_backup(made: backup.BackupInfo) -> None:
    with Memory.open(":memory:", embedder=HashingEmbedder()) as target:
        target.remember(trade(99))
        backup.restore_backup(target, made.path, replace=True)
        assert target.count() == 40


def test_a_backup_of_other_fingerprints_is_refused(made: backup.BackupInfo) -> None:
    manifest = made.path / backup.MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "market_dim": 12}))
    with Memory.open(":memory:", embedder=HashingEmbedder()) as target:
        with pytest.raises(IncompatibleStoreError, match="12 values"):
            backup.restore_backup(target, made.path)
        assert target.count() == 0


def test_a_failed_backup_leaves_nothing(
    edge_memory: Memory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge_memory.remember(RECORDS)
    calls = 0

    def failing(point: Any) -> bytes:
        nonlocal calls
        calls += 1
        if calls > 10:
            raise OSError(28, "No space left on device")
        return b"{}\n"

    monkeypatch.setattr(backup, "_line", failing)
    with pytest.raises(BackupError, match="No space left"):
        backup.create_backup(edge_memory, tmp_path / "backups")
    assert list((tmp_path / "backups").iterdir()) == []


def test_names_are_plain_folder_names(edge_memory: Memory, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="cannot name a backup"):
        backup.create_backup(edge_memory, tmp_path, name="../elsewhere")
    with pytest.raises(NotFoundError, match="no backup can be named"):
        backup.find_backup(tmp_path, "../elsewhere")
    with pytest.raises(NotFoundError, match="no backup named"):
        backup.find_backup(tmp_path, "mem0-missing")
