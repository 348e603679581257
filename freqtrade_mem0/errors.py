"""The one exception tree of freqtrade-mem0.

Operational errors need a person to fix something (a config value, a query, a key); they are
raised loudly with a message that says what to fix. Temporary errors clear by themselves (a
store that is restarting, a locked embedded store); writers keep their memories in the outbox
and deliver them later.

    Mem0Error
    ├── OperationalError                 fix the input, then retry
    │   ├── ConfigError                  a setting is missing or invalid
    │   ├── InvalidMemoryError           a memory record is malformed (names the field)
    │   ├── QuerySyntaxError             a query does not parse or names an unknown field
    │   ├── NotFoundError                no memory, backup or run with that id
    │   ├── IncompatibleStoreError       the store was made by another embedder or schema
    │   ├── BackupError                  a backup is unreadable or failed verification
    │   ├── AuthenticationError          no credentials, or bad ones
    │   ├── PermissionDeniedError        credentials valid, action not allowed for the role
    │   ├── EncryptionError              wrong key, tampered ciphertext
    │   └── ResultFileError              a backtest result file is corrupt, truncated or foreign
    └── TemporaryError                   retry later; nothing is lost meanwhile
        └── StoreUnavailableError        the store cannot be reached right now
            └── StoreLockedError         another process holds the embedded store
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class Mem0Error(Exception):
    """Root of every error freqtrade-mem0 raises on purpose."""


class OperationalError(Mem0Error):
    """Needs a person to fix something before a retry can succeed."""


class ConfigError(OperationalError):
    """A setting is missing or invalid."""


class InvalidMemoryError(OperationalError):
    """A memory record is malformed; the message names the field."""


class QuerySyntaxError(OperationalError):
    """A query does not parse, or uses an unknown field or operator.

    Attributes:
        query: the query text.
        position: zero-based character offset of the problem, when known.
    """

    def __init__(self, message: str, query: str = "", position: int | None = None) -> None:
        self.query = query
        self.position = position
        if position is not None and query:
            caret = " " * position + "^"
            message = f"{message} (at position {position})\n  {query}\n  {caret}"
        super().__init__(message)


class NotFoundError(OperationalError):
    """No memory, backup or run with that identifier."""


class IncompatibleStoreError(OperationalError):
    """The store was created with another embedder, dimension or schema version."""


class BackupError(OperationalError):
    """A backup could not be written, read or verified."""


class AuthenticationError(OperationalError):
    """Credentials are missing, malformed, expired or signed with the wrong key."""


class PermissionDeniedError(OperationalError):
    """The credentials are valid but their role or strategy scope does not allow this."""


class EncryptionError(OperationalError):
    """Data could not be decrypted: a wrong key or tampered ciphertext."""


class ResultFileError(OperationalError):
    """A path names no backtest result file, or a file is corrupt, truncated or foreign.

    Attributes:
        path: the file or path concerned.
        reason: what is wrong with it, for a person.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class TemporaryError(Mem0Error):
    """Clears by itself; retry later (the outbox does this for writers)."""


class StoreUnavailableError(TemporaryError):
    """The memory store cannot be reached right now."""


class StoreLockedError(StoreUnavailableError):
    """Another process holds the embedded store open."""
