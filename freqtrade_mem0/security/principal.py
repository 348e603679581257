"""Who is calling, and what they may do: roles, permissions and the route table, as data.

The documentation's role matrix and the tests' endpoint-by-role walk read the same tables
(`ROLE_PERMISSIONS`, `ROUTE_PERMISSIONS`), so a route without a rule is refused at run time
and fails the tests.

Two kinds of permission:

- *scoped* (`read`, `write`, `delete`, `cleanup`): a principal limited to some strategies
  exercises them on those strategies' memories only (the service adds a strategy filter to
  every query and refuses writes for other strategies);
- *whole-store* (everything else but `docs`): they touch or reveal the whole store (backups,
  restores, optimising, store-wide figures, key rotation), so a strategy-limited principal is
  refused them even when its role has them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from freqtrade_mem0.errors import PermissionDeniedError

STRATEGY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class Role(StrEnum):
    """What a credential may do; each role has the permissions of the one before it."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"


class Permission(StrEnum):
    """One kind of action a route performs."""

    DOCS = "docs"  # the API description (/docs, /openapi.json): no memory data
    READ = "read"  # search, get, export, stats, the store protocol's reads
    INSPECT = "inspect"  # store-wide figures: /status, /vectors/status, /metrics
    WRITE = "write"  # add, batch, import, freqtrade webhook, store upsert
    DELETE = "delete"  # delete by id, the store protocol's deletes
    CLEANUP = "cleanup"  # delete by age or query
    BACKUP = "backup"  # make, list, read and verify backups
    RESTORE = "restore"  # write a backup back
    OPTIMIZE = "optimize"  # merge segments, build indexes
    ENCRYPTION = "encryption"  # key rotation and its progress


SCOPED: frozenset[Permission] = frozenset(
    {Permission.READ, Permission.WRITE, Permission.DELETE, Permission.CLEANUP}
)
WHOLE_STORE: frozenset[Permission] = frozenset(Permission) - SCOPED - {Permission.DOCS}

_READER = frozenset({Permission.DOCS, Permission.READ, Permission.INSPECT})
_WRITER = _READER | {Permission.WRITE}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READER: _READER,
    Role.WRITER: _WRITER,
    Role.ADMIN: frozenset(Permission),
}

# Every route of the service and the permission it needs; None: open to anyone.
ROUTE_PERMISSIONS: dict[tuple[str, str], Permission | None] = {
    ("GET", "/health"): None,
    ("GET", "/docs"): Permission.DOCS,
    ("GET", "/openapi.json"): Permission.DOCS,
    ("GET", "/search"): Permission.READ,
    ("GET", "/memory/{memory_id}"): Permission.READ,
    ("GET", "/export"): Permission.READ,
    ("GET", "/stats"): Permission.READ,
    ("GET", "/status"): Permission.INSPECT,
    ("GET", "/vectors/status"): Permission.INSPECT,
    ("GET", "/metrics"): Permission.INSPECT,
    ("POST", "/memory"): Permission.WRITE,
    ("POST", "/memory/batch"): Permission.WRITE,
    ("POST", "/import"): Permission.WRITE,
    ("POST", "/webhook/freqtrade"): Permission.WRITE,
    ("DELETE", "/memory/{memory_id}"): Permission.DELETE,
    ("DELETE", "/cleanup"): Permission.CLEANUP,
    ("POST", "/backup"): Permission.BACKUP,
    ("GET", "/backups"): Permission.BACKUP,
    ("GET", "/backups/{name}"): Permission.BACKUP,
    ("POST", "/backups/{name}/verify"): Permission.BACKUP,
    ("POST", "/backups/{name}/restore"): Permission.RESTORE,
    ("POST", "/optimize"): Permission.OPTIMIZE,
    ("GET", "/encryption/status"): Permission.ENCRYPTION,
    ("POST", "/encryption/rotate"): Permission.ENCRYPTION,
    # Mem0's platform API, for mem0ai's MemoryClient (`Authorization: Token <key>`).
    ("GET", "/v1/ping/"): Permission.READ,
    ("POST", "/v3/memories/add/"): Permission.WRITE,
    ("GET", "/v1/memories/{memory_id}/"): Permission.READ,
    ("POST", "/v3/memories/"): Permission.READ,
    ("POST", "/v3/memories/search/"): Permission.READ,
    ("PUT", "/v1/memories/{memory_id}/"): Permission.WRITE,
    ("DELETE", "/v1/memories/{memory_id}/"): Permission.DELETE,
    ("DELETE", "/v1/memories/"): Permission.CLEANUP,
    ("GET", "/v1/memories/{memory_id}/history/"): Permission.READ,
    # The store protocol of `HttpStore` clients (bots, the CLI on a service).
    ("GET", "/v1/store/spec"): Permission.READ,
    ("GET", "/v1/store/status"): Permission.READ,
    ("POST", "/v1/store/retrieve"): Permission.READ,
    ("POST", "/v1/store/search"): Permission.READ,
    ("POST", "/v1/store/scroll"): Permission.READ,
    ("POST", "/v1/store/latest"): Permission.READ,
    ("POST", "/v1/store/count"): Permission.READ,
    ("POST", "/v1/store/facet"): Permission.READ,
    ("POST", "/v1/store/upsert"): Permission.WRITE,
    ("POST", "/v1/store/delete"): Permission.DELETE,
    ("POST", "/v1/store/delete-where"): Permission.DELETE,
    ("POST", "/v1/store/optimize"): Permission.OPTIMIZE,
}


def check_strategies(values: Iterable[str] | None) -> frozenset[str] | None:
    """Strategy names a credential is limited to (None: every strategy).

    Raises:
        ValueError: a name that cannot be a strategy's class name, or an empty list.
    """
    if values is None:
        return None
    names = frozenset(values)
    if not names:
        raise ValueError("an empty strategy list would allow nothing; leave it out for all")
    for name in names:
        if not STRATEGY_PATTERN.fullmatch(name):
            raise ValueError(f"{name!r} is not a strategy name (letters, digits, _ . -)")
    return names


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        subject: who it is: an API key's id and name, or a token's `sub`.
        role: what it may do.
        strategies: the strategies whose memories it sees and writes; None: all.
        via: how it authenticated (`api-key`, `jwt`, `none`).
    """

    subject: str
    role: Role
    strategies: frozenset[str] | None = None
    via: str = "api-key"

    @property
    def limited(self) -> bool:
        """True when it sees only some strategies."""
        return self.strategies is not None

    def allows(self, permission: Permission) -> bool:
        """Whether the role has the permission and the strategy limit admits it."""
        if permission not in ROLE_PERMISSIONS[self.role]:
            return False
        return not (self.limited and permission in WHOLE_STORE)

    def require(self, permission: Permission) -> None:
        """Raise unless `allows(permission)`.

        Raises:
            PermissionDeniedError: saying which role or scope would be needed.
        """
        if permission not in ROLE_PERMISSIONS[self.role]:
            needed = min_role(permission)
            raise PermissionDeniedError(
                f"the {self.role.value} role may not {permission.value}; "
                f"this needs the {needed.value} role"
            )
        if self.limited and permission in WHOLE_STORE:
            raise PermissionDeniedError(
                f"{permission.value} concerns the whole store; a credential limited to "
                f"strategies ({', '.join(sorted(self.strategies or ()))}) may not use it"
            )

    def may_see(self, strategy: str) -> bool:
        """Whether memories of this strategy are within its scope."""
        return self.strategies is None or strategy in self.strategies


def min_role(permission: Permission) -> Role:
    """The least role that has a permission."""
    return next(role for role in Role if permission in ROLE_PERMISSIONS[role])


ANONYMOUS = Principal(subject="anonymous (authentication disabled)", role=Role.ADMIN, via="none")
