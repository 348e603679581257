"""Proof that a backup restores: restore it into a scratch store and compare.

`verify_backup` reads a backup and checks it against its own manifest. `verify_by_restore`
goes further: it restores the backup into a new embedded store in a temporary folder, then
compares the count, and the checksum of the backup's lines made again from the scratch
store's points, with the manifest: what a restore would bring back is exactly what was
backed up. `prune` keeps the newest scheduled backups.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from freqtrade_mem0.backup import (
    _line,
    _points,
    delete_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from freqtrade_mem0.errors import BackupError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.security.crypto import KeyRing
from freqtrade_mem0.stores import MemoryStore, StoreSpec
from freqtrade_mem0.stores.encrypted import EncryptedStore

logger = logging.getLogger(__name__)

SCHEDULED_PREFIX = "auto-"
SCHEDULED = re.compile(rf"{SCHEDULED_PREFIX}\d{{8}}T\d{{12}}Z")


@dataclass(frozen=True)
class RestoreCheck:
    """A backup restored into a scratch store and compared with its manifest."""

    name: str
    count: int
    sha256: str
    seconds: float


class _SpaceOnly:
    """An embedder that only names a vector space: a restore in the same space embeds
    nothing (the backup's vectors are written back), so none is loaded."""

    def __init__(self, name: str, dim: int) -> None:
        self.name = name
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise BackupError("a verification restore must not embed: the backup lacks vectors")


def verify_by_restore(path: str | Path, ring: KeyRing | None = None) -> RestoreCheck:
    """Restore a backup into a scratch embedded store and compare it with its manifest.

    Args:
        path: the backup's folder.
        ring: the keys of an encrypted backup.

    Raises:
        BackupError: the backup is damaged, or the restored store differs from it.
        EncryptionError: it is encrypted and `ring` lacks its key.
    """
    from freqtrade_mem0.stores.edge import EdgeStore

    started = time.perf_counter()
    info = verify_backup(path, ring)
    spec = StoreSpec(info.text_dim, info.market_dim, info.embedder, info.fingerprint_version)
    with tempfile.TemporaryDirectory(prefix="mem0-verify-") as scratch:
        # Encrypted like the source, so the scratch copy on disk is no easier to read.
        store: MemoryStore = EdgeStore(Path(scratch) / "store", spec)
        if ring is not None:
            store = EncryptedStore(store, ring)
        memory = Memory(store, _SpaceOnly(spec.embedder, spec.text_dim))
        try:
            restore_backup(memory, info.path, ring=ring)
            count = memory.store.count()
            digest = hashlib.sha256()
            for point in _points(memory):
                digest.update(_line(point))
        finally:
            memory.close()
    if count != info.count:
        raise BackupError(f"backup {info.name}: restored {count} memories of {info.count}")
    if digest.hexdigest() != info.sha256:
        raise BackupError(f"backup {info.name}: the restored memories differ from the backup")
    return RestoreCheck(info.name, count, info.sha256, time.perf_counter() - started)


def prune(folder: str | Path, keep: int) -> list[str]:
    """Remove scheduled backups (`auto-...`) beyond the newest `keep`; returns their names.

    Backups made by hand, and scheduled ones that failed verification (renamed
    `failed-auto-...`), are never removed here.
    """
    scheduled = [b for b in list_backups(folder) if SCHEDULED.fullmatch(b.name)]
    removed = []
    for old in scheduled[keep:]:  # list_backups is newest first
        delete_backup(folder, old.name)
        removed.append(old.name)
    return removed
