"""`/encryption/...`: the keys memories are encrypted with, and rotating them while serving."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from freqtrade_mem0.errors import ConfigError, Mem0Error
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.security.crypto import KeyRing
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS, error_responses
from freqtrade_mem0.service.state import ServiceState
from freqtrade_mem0.stores.encrypted import EncryptedStore

logger = logging.getLogger(__name__)
router = APIRouter(tags=["encryption"], responses=COMMON_ERRORS)


class Rotation(BaseModel):
    """The latest key rotation."""

    running: bool = False
    key_id: str | None = None
    scanned: int = 0
    reencrypted: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class EncryptionStatus(BaseModel):
    """Whether memories are encrypted, with which keys, and the latest rotation."""

    enabled: bool
    active_key: str | None
    keys: list[str]
    usage: dict[str, int] | None
    rotation: Rotation


class RotationJob:
    """Re-encrypts the store in a background thread, one rotation at a time."""

    def __init__(self) -> None:
        self.status = Rotation()
        self._lock = threading.Lock()

    def start(self, state: ServiceState, store: EncryptedStore) -> None:
        """Start re-encrypting with the store's active key.

        Raises:
            HTTPException: 409 while a rotation runs.
        """
        with self._lock:
            if self.status.running:
                raise HTTPException(409, "a key rotation is already running")
            self.status = Rotation(
                running=True, key_id=store.ring.active.id, started_at=datetime.now(UTC)
            )
        thread = threading.Thread(
            target=self._run, args=(state, store), name="mem0-rotation", daemon=True
        )
        thread.start()

    def _run(self, state: ServiceState, store: EncryptedStore) -> None:
        def progress(scanned: int, reencrypted: int) -> None:
            self.status.scanned, self.status.reencrypted = scanned, reencrypted

        try:
            result = store.rotate(hold=state.gate.exclusive, progress=progress)
            logger.info("key rotation: %d of %d re-encrypted", result.reencrypted, result.scanned)
        except Mem0Error as exc:
            self.status.error = str(exc)
            logger.error("key rotation failed: %s", exc)
        except Exception as exc:  # reported in the status; the thread must not die silently
            self.status.error = f"{type(exc).__name__}: {exc}"
            logger.exception("key rotation failed")
        finally:
            self.status.finished_at = datetime.now(UTC)
            self.status.running = False


def _encrypted(memory: Memory) -> EncryptedStore:
    if not isinstance(memory.store, EncryptedStore):
        raise ConfigError(
            "encryption at rest is not enabled: set encryption_keys or encryption_key_file"
        )
    return memory.store


def _job(request: Request) -> RotationJob:
    job: RotationJob = request.app.state.mem0_rotation
    return job


@router.get("/encryption/status", response_model=EncryptionStatus, summary="Encryption keys")
def status(
    request: Request,
    memory: MemoryDep,
    count: Annotated[
        bool, Query(description="count the memories per key (reads every payload)")
    ] = False,
) -> EncryptionStatus:
    """The key ids (never the keys), the active one, optionally how many memories each
    encrypts (`(clear)`: not encrypted), and the latest rotation's progress."""
    store = memory.store if isinstance(memory.store, EncryptedStore) else None
    return EncryptionStatus(
        enabled=store is not None,
        active_key=store.ring.active.id if store else None,
        keys=store.ring.ids if store else [],
        usage=store.key_usage() if store and count else None,
        rotation=_job(request).status,
    )


@router.post(
    "/encryption/rotate",
    status_code=202,
    response_model=Rotation,
    responses=error_responses(409),
    summary="Rotate the encryption key",
)
def rotate(request: Request, memory: MemoryDep, state: StateDep) -> Any:
    """Re-read the key file (when keys come from `encryption_key_file`), then re-encrypt, in
    the background and in batches, every memory not encrypted with the first key. Reads and
    writes go on meanwhile; keep the old key in the file until the rotation has finished."""
    store = _encrypted(memory)
    key_file = state.settings.encryption_key_file
    if key_file is not None:
        store.ring = KeyRing.from_file(key_file)
    _job(request).start(state, store)
    return _job(request).status
