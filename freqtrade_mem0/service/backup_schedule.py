"""Scheduled backups: one every `backup_interval_minutes`, each verified, the newest kept.

Each scheduled backup (`auto-<UTC time>`) is made while writes wait (the service's write
gate), then verified without holding anything by restoring it into a scratch store and
comparing counts and checksums (`freqtrade_mem0.backup_check`). A backup that fails
verification is renamed `failed-auto-...` and kept for inspection; the newest
`backup_retention` verified ones are kept and older scheduled ones removed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from freqtrade_mem0 import backup
from freqtrade_mem0.backup_check import SCHEDULED_PREFIX, prune, verify_by_restore
from freqtrade_mem0.errors import Mem0Error
from freqtrade_mem0.service.state import ServiceState

logger = logging.getLogger(__name__)


@dataclass
class LastBackup:
    """The outcome of the latest scheduled backup."""

    name: str
    at: str
    count: int = 0
    verified: bool = False
    backup_seconds: float = 0.0
    verify_seconds: float = 0.0
    error: str | None = None


class BackupScheduler:
    """Makes, verifies and prunes backups in a background thread.

    Args:
        state: the service's state (its memory, settings and write gate).
    """

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.interval = state.settings.backup_interval_minutes * 60
        self.last: LastBackup | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mem0-backups", daemon=True)

    @property
    def enabled(self) -> bool:
        """Whether a schedule is set."""
        return self.interval > 0

    def start(self) -> None:
        """Start the schedule (nothing happens without an interval)."""
        if self.enabled:
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop; a backup under way finishes first."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # the schedule must outlive any one failure; it is logged
                logger.exception("scheduled backup failed")

    def run_once(self) -> LastBackup:
        """Make, verify and prune now; returns what happened (also kept in `last`)."""
        settings = self.state.settings
        memory = self.state.memories.get()
        name = SCHEDULED_PREFIX + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        last = LastBackup(name=name, at=datetime.now(UTC).isoformat())
        started = time.perf_counter()
        try:
            with self.state.gate.exclusive():
                info = backup.create_backup(memory, settings.backup_dir, name=name)
            last.count = info.count
            last.backup_seconds = round(time.perf_counter() - started, 3)
            if settings.backup_verify:
                check = verify_by_restore(info.path, backup.ring_of(memory))
                last.verify_seconds = round(check.seconds, 3)
            last.verified = settings.backup_verify
        except Mem0Error as exc:
            last.error = str(exc)
            logger.error("scheduled backup %s failed: %s", name, exc)
            failed = settings.backup_dir / name
            if failed.exists():
                failed.rename(settings.backup_dir / f"failed-{name}")
        else:
            removed = prune(settings.backup_dir, settings.backup_retention)
            logger.info(
                "backup %s: %d memories in %.1f s, verified in %.1f s; removed %s",
                name,
                last.count,
                last.backup_seconds,
                last.verify_seconds,
                ", ".join(removed) or "none",
            )
        self.last = last
        return last

    def status(self) -> dict[str, Any]:
        """The schedule and the latest outcome."""
        return {
            "interval_minutes": self.state.settings.backup_interval_minutes,
            "retention": self.state.settings.backup_retention,
            "verify": self.state.settings.backup_verify,
            "last": None if self.last is None else vars(self.last),
        }
