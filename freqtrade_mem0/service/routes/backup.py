"""`/backup` and `/backups`: consistent copies of every memory in the backup folder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from freqtrade_mem0 import backup
from freqtrade_mem0.backup_check import verify_by_restore
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS, error_responses

router = APIRouter(tags=["backups"], responses=COMMON_ERRORS)

BackupName = Annotated[
    str, Path(max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="a backup")
]


class Backup(BaseModel):
    """A backup's manifest."""

    name: str
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

    @classmethod
    def of(cls, info: backup.BackupInfo) -> Backup:
        """From the library's `BackupInfo` (without the server's path)."""
        data = info.to_dict()
        del data["path"]
        return cls.model_validate(data)


class Restored(BaseModel):
    """What a restore wrote."""

    name: str
    restored: int
    replaced: bool
    reembedded: bool


@router.post("/backup", status_code=201, response_model=Backup, summary="Make a backup")
def create(memory: MemoryDep, state: StateDep) -> Backup:
    """Copy every memory, with its vectors, into a new backup in the backup folder. Writes wait
    until it is done, so the copy is consistent."""
    with state.gate.exclusive():
        info = backup.create_backup(memory, state.settings.backup_dir)
    return Backup.of(info)


@router.get("/backups", response_model=list[Backup], summary="List backups")
def list_(state: StateDep) -> list[Backup]:
    """The complete backups in the backup folder, newest first."""
    return [Backup.of(info) for info in backup.list_backups(state.settings.backup_dir)]


@router.get(
    "/backups/{name}", response_model=Backup, responses=error_responses(404), summary="A backup"
)
def read(name: BackupName, state: StateDep) -> Backup:
    """One backup's manifest."""
    return Backup.of(backup.read_manifest(backup.find_backup(state.settings.backup_dir, name)))


@router.post(
    "/backups/{name}/verify",
    response_model=Backup,
    responses=error_responses(404),
    summary="Verify a backup",
)
def verify(name: BackupName, memory: MemoryDep, state: StateDep) -> Backup:
    """Read the whole backup and check its count, checksum and every memory, then restore it
    into a scratch store and compare again (422 if anything differs)."""
    path = backup.find_backup(state.settings.backup_dir, name)
    verify_by_restore(path, backup.ring_of(memory))
    return Backup.of(backup.read_manifest(path))


@router.post(
    "/backups/{name}/restore",
    response_model=Restored,
    responses=error_responses(404, 409),
    summary="Restore a backup",
)
def restore(
    name: BackupName, memory: MemoryDep, state: StateDep, replace: bool = False
) -> Restored:
    """Write a backup's memories into the store (an upsert by id). With `replace=true` every
    other memory is removed first, so the store holds exactly the backup. The backup is
    verified first: a damaged one changes nothing."""
    path = backup.find_backup(state.settings.backup_dir, name)
    with state.gate.exclusive():
        result = backup.restore_backup(memory, path, replace=replace)
    return Restored(
        name=result.name,
        restored=result.restored,
        replaced=result.replaced,
        reembedded=result.reembedded,
    )
