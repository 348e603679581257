"""API keys: made here, shown once, kept only as hashes in a JSON file.

A key reads `fm0_<id>_<secret>`: `id` (10 hex digits) finds its entry, `secret` is 256 random
bits. The file holds, per key, its id, name, role, strategies, creation and revocation times
and `sha256:<hex>` of the whole key; never the key. A fast hash is enough because the secret
is random, not chosen by a person: there is nothing to guess from it (a slow hash such as
scrypt defends weak passwords, at a cost of milliseconds on every request).

The file is written atomically (a temporary file, fsynced, renamed) with mode 0600, under an
exclusive lock so two `freqtrade-mem0 keys` commands cannot lose each other's change. The
service re-reads it when it changes, so a created or revoked key counts from the next request.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqtrade_mem0.errors import AuthenticationError, ConfigError, NotFoundError
from freqtrade_mem0.security.principal import Principal, Role, check_strategies

logger = logging.getLogger(__name__)

FORMAT = "freqtrade-mem0/keys-v1"
PREFIX = "fm0"
KEY_PATTERN = re.compile(rf"{PREFIX}_([0-9a-f]{{10}})_([A-Za-z0-9_-]{{43,}})")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.@:-]{0,99}")


def generate_key() -> tuple[str, str]:
    """A new key and its id."""
    key_id = secrets.token_hex(5)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """What the keys file keeps of a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    """Whether a bearer token is an API key (else it is read as a JWT)."""
    return token.startswith(PREFIX + "_")


@dataclass(frozen=True)
class KeyEntry:
    """One key as the file holds it (without the key)."""

    id: str
    name: str
    hash: str
    role: Role
    strategies: tuple[str, ...] | None
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked is None

    def to_json(self) -> dict[str, Any]:
        """The entry as the file stores it."""
        data = asdict(self)
        data["role"] = self.role.value
        data["strategies"] = list(self.strategies) if self.strategies is not None else None
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KeyEntry:
        """An entry from the file."""
        strategies = raw.get("strategies")
        return cls(
            id=str(raw["id"]),
            name=str(raw["name"]),
            hash=str(raw["hash"]),
            role=Role(raw["role"]),
            strategies=tuple(sorted(strategies)) if strategies is not None else None,
            created=str(raw["created"]),
            revoked=raw.get("revoked"),
        )


class KeyFile:
    """The keys file: create, list and revoke keys; authenticate a key.

    Args:
        path: the JSON file (created on the first `create`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._entries: dict[str, KeyEntry] = {}

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> list[KeyEntry]:
        """Every key, revoked ones too, oldest first.

        Raises:
            ConfigError: the file cannot be read or is not a keys file.
        """
        self._refresh()
        return sorted(self._entries.values(), key=lambda e: (e.created, e.id))

    def authenticate(self, key: str) -> Principal:
        """The principal a key stands for.

        Raises:
            AuthenticationError: unknown, malformed or revoked key.
        """
        match = KEY_PATTERN.fullmatch(key)
        if match is None:
            raise AuthenticationError("malformed API key: expected fm0_<id>_<secret>")
        self._refresh()
        entry = self._entries.get(match[1])
        # Compared in constant time, and a missing entry costs the same comparison.
        expected = entry.hash if entry is not None else hash_key(PREFIX + "_unknown")
        if not secrets.compare_digest(hash_key(key), expected) or entry is None:
            raise AuthenticationError("unknown API key")
        if not entry.active:
            raise AuthenticationError(f"API key {entry.id} ({entry.name}) was revoked")
        strategies = frozenset(entry.strategies) if entry.strategies is not None else None
        return Principal(f"key:{entry.id}:{entry.name}", entry.role, strategies, "api-key")

    def _refresh(self) -> None:
        """Read the file again if it changed since the last read (one stat per call)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            with self._lock:
                self._seen, self._entries = None, {}
            return
        except OSError as exc:
            raise ConfigError(f"cannot read the keys file {self.path}: {exc}") from exc
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if seen == self._seen:
            return
        with self._lock:
            if stat.st_mode & 0o077:
                logger.warning("keys file %s is readable by others: chmod 600 it", self.path)
            self._entries = {e.id: e for e in self._read()}
            self._seen = seen

    def _read(self) -> list[KeyEntry]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the keys file {self.path}: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ConfigError(f"{self.path} is not a freqtrade-mem0 keys file")
        try:
            return [KeyEntry.from_json(item) for item in raw.get("keys", [])]
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"the keys file {self.path} is malformed: {exc!r}") from exc

    # -- changing --------------------------------------------------------------------------

    def create(
        self,
        name: str,
        role: Role | str,
        strategies: list[str] | None = None,
        *,
        key: str | None = None,
    ) -> tuple[KeyEntry, str]:
        """Make a key; returns its entry and the key, which is not kept anywhere.

        Args:
            name: what the key is for (`bot-1`, `grafana`).
            role: reader, writer or admin.
            strategies: the strategies it is limited to; None: all.
            key: a key made by `generate_key` (tests); default: a new one.

        Raises:
            ConfigError: a bad name, role or strategy, or the file cannot be written.
        """
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"key name {name!r}: letters, digits, ' _.@:-', up to 100")
        try:
            role = Role(role)
            limited = check_strategies(strategies)
        except ValueError as exc:
            raise ConfigError(f"cannot create key {name!r}: {exc}") from exc
        if key is None:
            key_id, key = generate_key()
        elif match := KEY_PATTERN.fullmatch(key):
            key_id = match[1]
        else:
            raise ConfigError("a given key must be one generate_key made")
        entry = KeyEntry(
            id=key_id,
            name=name,
            hash=hash_key(key),
            role=role,
            strategies=tuple(sorted(limited)) if limited is not None else None,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._locked() as entries:
            if any(e.id == key_id for e in entries):
                raise ConfigError(f"a key with id {key_id} exists already")
            entries.append(entry)
        return entry, key

    def revoke(self, key_id: str) -> KeyEntry:
        """Revoke a key by its id (the entry stays, marked revoked).

        Raises:
            NotFoundError: no key has this id.
        """
        with self._locked() as entries:
            for index, entry in enumerate(entries):
                if entry.id == key_id:
                    if entry.active:
                        now = datetime.now(UTC).isoformat(timespec="seconds")
                        entries[index] = replace(entry, revoked=now)
                    return entries[index]
        raise NotFoundError(f"no API key with id {key_id!r} in {self.path}")

    @contextmanager
    def _locked(self) -> Iterator[list[KeyEntry]]:
        """The entries, to change in place; written back atomically if no error is raised."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR)
        except OSError as exc:
            raise ConfigError(f"cannot write the keys file {self.path}: {exc}") from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            self._write(entries)
        finally:
            os.close(lock)  # closing releases the lock

    def _write(self, entries: list[KeyEntry]) -> None:
        body = json.dumps({"format": FORMAT, "keys": [e.to_json() for e in entries]}, indent=2)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(body + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot write the keys file {self.path}: {exc}") from exc
