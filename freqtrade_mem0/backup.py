"""Backups: a consistent copy of every memory, with its vectors, in a folder of its own.

A backup is a folder `<backup_dir>/<name>/` holding

- `memories.jsonl.gz`: one memory per line in the export format (`Memory.export_jsonl`, so any
  backup is also an importable export), plus `"vectors": {"text": <base64 float32>}` so a
  restore into a store with the same embedder writes the stored vectors back instead of
  embedding every text again;
- `manifest.json`: the count, the sha256 of the uncompressed lines, the vector spaces and when
  it was made.

The data file of a store with encryption keys is encrypted with its active key (chunked
AES-256-GCM, `freqtrade_mem0.security.crypto`); the manifest names the key id.

It is written into a hidden temporary folder and renamed into place when complete, so a backup
that is listed is whole. Qdrant Edge has no snapshot-creation API (qdrant-edge-py 0.9.0); this
format also restores into any backend. Consistency across concurrent writes is the caller's
job: the memory service holds writes while it makes a backup.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from freqtrade_mem0.errors import BackupError, InvalidMemoryError, NotFoundError
from freqtrade_mem0.memory import (
    Memory,
    batched,
    record_from_export,
    store_spec,
    to_point,
    to_record,
)
from freqtrade_mem0.models import MemoryRecord
from freqtrade_mem0.security.crypto import KeyRing
from freqtrade_mem0.security.files import sealing, unsealing
from freqtrade_mem0.stores import TEXT_VECTOR, StoredPoint
from freqtrade_mem0.stores.encrypted import EncryptedStore

FORMAT = "freqtrade-mem0/backup-v1"
MANIFEST = "manifest.json"
DATA = "memories.jsonl.gz"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, up to 128"
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds (its manifest) and where it is.

    Attributes:
        name: the backup's folder name.
        path: the backup's folder.
        created_at: when it was made (UTC).
        count: memories in it.
        sha256: hex digest of the uncompressed JSON lines.
        bytes: size of the compressed data file.
        embedder: the text embedder its text vectors come from.
        text_dim: dimension of the text vectors.
        market_dim: dimension of the market fingerprints.
        fingerprint_version: version of the market fingerprint.
        source: the store it was made from.
        package_version: the freqtrade-mem0 version that made it.
        encrypted_with: the id of the key its data is encrypted with; None: in clear.
    """

    name: str
    path: Path
    created_at: datetime
    count: int
    sha256: str
    bytes: int
    embedder: str
    text_dim: int
    market_dim: int
    fingerprint_version: int
    source: str
    package_version: str
    encrypted_with: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the manifest's content, plus the name and path)."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class RestoreResult:
    """What a restore wrote."""

    name: str
    restored: int
    replaced: bool
    reembedded: bool


def create_backup(memory: Memory, folder: str | Path, *, name: str | None = None) -> BackupInfo:
    """Write every memory, with its vectors, into a new backup in `folder`.

    Args:
        memory: the memory to back up.
        folder: the backup folder (created if missing).
        name: the backup's name; default `mem0-<UTC time>`.

    Raises:
        BackupError: the backup could not be written (nothing is left behind then).
    """
    from freqtrade_mem0 import __version__

    root = Path(folder).expanduser()
    name = name or datetime.now(UTC).strftime("mem0-%Y%m%dT%H%M%S%fZ")
    if not NAME_PATTERN.fullmatch(name):
        raise BackupError(f"{name!r} cannot name a backup: {NAME_RULE}")
    final = root / name
    tmp = root / f"{_TMP_PREFIX}{name}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise BackupError(f"a backup named {name!r} already exists in {root}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        created = datetime.now(UTC)
        digest = hashlib.sha256()
        count = 0
        ring = ring_of(memory)
        with (
            open(tmp / DATA, "wb") as raw,
            sealing(raw, ring) as sink,
            gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1) as out,
        ):
            for point in _points(memory):
                line = _line(point)
                digest.update(line)
                out.write(line)
                count += 1
        _fsync(tmp / DATA)
        spec = store_spec(memory.embedder)
        info = BackupInfo(
            name=name,
            path=final,
            created_at=created,
            count=count,
            sha256=digest.hexdigest(),
            bytes=(tmp / DATA).stat().st_size,
            embedder=spec.embedder,
            text_dim=spec.text_dim,
            market_dim=spec.market_dim,
            fingerprint_version=spec.fingerprint_version,
            source=f"{memory.store.backend}:{memory.store.location}",
            package_version=__version__,
            encrypted_with=ring.active.id if ring is not None else None,
        )
        manifest = {"format": FORMAT, **info.to_dict()}
        del manifest["path"]
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        _fsync(tmp / MANIFEST)
        tmp.rename(final)  # the backup appears whole or not at all
        _fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BackupError(f"cannot write backup {name!r} in {root}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def list_backups(folder: str | Path) -> list[BackupInfo]:
    """The complete backups in a folder, newest first (an absent folder has none)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.name.startswith(_TMP_PREFIX) or not (child / MANIFEST).is_file():
            continue
        try:
            found.append(read_manifest(child))
        except BackupError:
            continue  # not ours, or damaged: `verify_backup` says what is wrong with it
    return sorted(found, key=lambda info: info.created_at, reverse=True)


def find_backup(folder: str | Path, name: str) -> Path:
    """The folder of the backup `name` in `folder`.

    Raises:
        NotFoundError: no such backup (names are plain folder names, never paths).
    """
    _check_name(name)
    path = Path(folder).expanduser() / name
    if not (path / MANIFEST).is_file():
        raise NotFoundError(f"no backup named {name!r} in {folder}")
    return path


def read_manifest(path: str | Path) -> BackupInfo:
    """A backup's manifest, without reading its data.

    Raises:
        BackupError: the manifest is missing or malformed.
    """
    path = Path(path)
    try:
        raw = json.loads((path / MANIFEST).read_text())
        if raw.get("format") != FORMAT:
            raise BackupError(
                f"{path} is not a freqtrade-mem0 backup (format {raw.get('format')!r})"
            )
        return BackupInfo(
            name=path.name,
            path=path,
            created_at=datetime.fromisoformat(raw["created_at"]),
            count=int(raw["count"]),
            sha256=str(raw["sha256"]),
            bytes=int(raw["bytes"]),
            embedder=str(raw["embedder"]),
            text_dim=int(raw["text_dim"]),
            market_dim=int(raw["market_dim"]),
            fingerprint_version=int(raw["fingerprint_version"]),
            source=str(raw.get("source", "")),
            package_version=str(raw.get("package_version", "")),
            encrypted_with=raw.get("encrypted_with"),
        )
    except OSError as exc:
        raise BackupError(f"cannot read the manifest of {path}: {exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"the manifest of {path} is malformed: {exc!r}") from exc


def verify_backup(path: str | Path, ring: KeyRing | None = None) -> BackupInfo:
    """Read a whole backup and check it against its manifest: count, checksum, every record.

    Args:
        path: the backup's folder.
        ring: the keys of an encrypted backup.

    Raises:
        BackupError: saying what does not match.
        EncryptionError: it is encrypted and `ring` lacks its key.
    """
    info = read_manifest(path)
    count = sum(1 for _ in _entries(info, ring))
    if count != info.count:
        raise BackupError(f"backup {info.name}: {count} memories, the manifest says {info.count}")
    return info


def restore_backup(
    memory: Memory,
    path: str | Path,
    *,
    replace: bool = False,
    batch_size: int = 512,
    ring: KeyRing | None = None,
) -> RestoreResult:
    """Write a backup's memories into a memory (an idempotent upsert by id).

    The backup is verified in full first, so a damaged one writes nothing. With the same
    embedder the stored text vectors are written back as they are; with another one the texts
    are embedded again (a restore is also a way to move to another embedder).

    Args:
        memory: where to restore.
        path: the backup's folder.
        replace: delete every memory first, so the store holds exactly the backup.
        batch_size: memories per store write.
        ring: the keys of an encrypted backup; default: those of the memory's store.

    Raises:
        BackupError: the backup is damaged or does not match its manifest.
        IncompatibleStoreError: its market fingerprints are of another version or size.
    """
    from freqtrade_mem0.errors import IncompatibleStoreError

    ring = ring or ring_of(memory)
    info = verify_backup(path, ring)
    spec = store_spec(memory.embedder)
    if (info.market_dim, info.fingerprint_version) != (spec.market_dim, spec.fingerprint_version):
        raise IncompatibleStoreError(
            f"backup {info.name} holds market fingerprints v{info.fingerprint_version} of "
            f"{info.market_dim} values, the store v{spec.fingerprint_version} of {spec.market_dim}"
        )
    same_space = (info.embedder, info.text_dim) == (spec.embedder, spec.text_dim)
    if replace:
        memory.delete_where(None)
    restored = 0
    for chunk in batched(_entries(info, ring), batch_size):
        records = [record for record, _ in chunk]
        stored = [vector for _, vector in chunk if vector is not None]
        if same_space and len(stored) == len(chunk):
            vectors = np.stack(stored)
        else:
            vectors = memory.embedder.embed([r.text for r in records])
        points = [to_point(r, v.tolist()) for r, v in zip(records, vectors, strict=True)]
        memory.store.upsert(points)
        restored += len(records)
    return RestoreResult(info.name, restored, replace, not same_space)


def delete_backup(folder: str | Path, name: str) -> None:
    """Remove a backup.

    Raises:
        NotFoundError: no such backup.
    """
    shutil.rmtree(find_backup(folder, name))


def _entries(
    info: BackupInfo, ring: KeyRing | None = None
) -> Iterator[tuple[MemoryRecord, np.ndarray | None]]:
    """Each record of a backup with its text vector, checking the checksum at the end."""
    digest = hashlib.sha256()
    try:
        with (
            open(info.path / DATA, "rb") as raw,
            gzip.GzipFile(fileobj=unsealing(raw, ring, f"backup {info.name}"), mode="rb") as data,
        ):
            for number, line in enumerate(data, start=1):
                digest.update(line)
                yield _parse_line(info, number, line)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BackupError(f"backup {info.name}: cannot read {DATA}: {exc}") from exc
    if digest.hexdigest() != info.sha256:
        raise BackupError(f"backup {info.name}: checksum mismatch, the data was altered")


def _parse_line(
    info: BackupInfo, number: int, line: bytes
) -> tuple[MemoryRecord, np.ndarray | None]:
    where = f"backup {info.name}, line {number}"
    try:
        raw = json.loads(line)
        record = record_from_export(raw)
        encoded = (raw.get("vectors") or {}).get("text")
        vector = None
        if encoded is not None:
            vector = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<f4")
            if vector.shape != (info.text_dim,):
                raise ValueError(f"text vector of {vector.size} values, not {info.text_dim}")
    except InvalidMemoryError as exc:
        raise BackupError(f"{where}: {exc}") from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise BackupError(f"{where}: {exc}") from exc
    return record, vector


def ring_of(memory: Memory) -> KeyRing | None:
    """The keys a memory's store encrypts with (its backups are encrypted with them too)."""
    store = memory.store
    return store.ring if isinstance(store, EncryptedStore) else None


def _points(memory: Memory) -> Iterator[StoredPoint]:
    """Every stored point with its vectors, a page at a time."""
    offset: str | None = None
    while True:
        page, offset = memory.store.scroll(None, limit=512, offset=offset, with_vectors=True)
        yield from page
        if offset is None:
            return


def _line(point: StoredPoint) -> bytes:
    entry = to_record(point).to_public().model_dump(mode="json")
    del entry["score"]
    text_vector = point.vectors.get(TEXT_VECTOR)
    if text_vector is not None:
        packed = np.asarray(text_vector, dtype="<f4").tobytes()
        entry["vectors"] = {"text": base64.b64encode(packed).decode("ascii")}
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise NotFoundError(f"no backup can be named {name!r}: {NAME_RULE}")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
