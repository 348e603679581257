"""A store that encrypts each memory's secret fields before they reach the store beneath it.

Encrypted (AES-256-GCM, `freqtrade_mem0.security.crypto`): `SECRET_FIELDS`, the memory's
text, its messages, its free-form `data` and its natural `key`. They are replaced in the
stored payload by one envelope, `enc`, naming the key that sealed them; the envelope is bound
to the memory's id and strategy, so it cannot be moved to another memory unnoticed.

In clear, because the store must filter, sort and count by them: the indexed keyword fields
(kind, type, strategy, pair, timeframe, exchange, mode, run_id, side, enter_tag, exit_reason,
tags), the times (timestamp, created_at, ts), the metrics (every one can be filtered on) and
the vectors (the store searches them: a text embedding and the market fingerprint). What
that reveals is written down in docs/security.md.

Points stored before encryption was turned on are read as they are, and `rotate` encrypts
them along with those sealed by an older key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freqtrade_mem0.errors import EncryptionError
from freqtrade_mem0.stores.base import (
    MemoryStore,
    ScoredPoint,
    StoredPoint,
    StoreStatus,
)

if TYPE_CHECKING:
    from freqtrade_mem0.query import Node
    from freqtrade_mem0.security.crypto import KeyRing

SECRET_FIELDS: tuple[str, ...] = ("text", "messages", "data", "key")
ENVELOPE = "enc"
CLEAR = "(clear)"


def _clear(where: Node | None) -> Node | None:
    """A filter for the inner store, which must never carry a secret field's value in clear.

    Raises:
        EncryptionError: the filter names a secret field.
    """
    from freqtrade_mem0.query.nodes import And, Not, Or

    pending = [where]
    while pending:
        node = pending.pop()
        if isinstance(node, And | Or):
            pending.extend(node.children)
        elif isinstance(node, Not):
            pending.append(node.child)
        elif node is not None and node.field in SECRET_FIELDS:
            raise EncryptionError(
                f"{node.field!r} is encrypted in this store, so nothing can filter on it"
            )
    return where


def _aad(point_id: str, payload: dict[str, Any]) -> bytes:
    return f"freqtrade-mem0/memory-v1\0{point_id}\0{payload.get('strategy', '')}".encode()


@dataclass(frozen=True)
class RotationResult:
    """What a rotation did."""

    scanned: int
    reencrypted: int
    key_id: str


class EncryptedStore:
    """A `MemoryStore` that keeps memories' secret fields encrypted in `inner`.

    Args:
        inner: the store that holds the points.
        ring: the keys; the first encrypts, all decrypt.
    """

    def __init__(self, inner: MemoryStore, ring: KeyRing) -> None:
        self.inner = inner
        self.ring = ring
        self.backend = inner.backend
        self.location = inner.location
        self.matches_texts = False  # the inner store holds their ciphertext

    # -- the codec -------------------------------------------------------------------------

    def seal(self, point: StoredPoint) -> StoredPoint:
        """The point as stored: secret fields in the envelope."""
        payload = dict(point.payload)
        payload.pop(ENVELOPE, None)
        secret = {name: payload.pop(name) for name in SECRET_FIELDS if name in payload}
        plaintext = json.dumps(secret, separators=(",", ":")).encode()
        payload[ENVELOPE] = self.ring.seal(plaintext, _aad(point.id, payload))
        return StoredPoint(point.id, payload, point.vectors)

    def unseal(self, point: StoredPoint) -> StoredPoint:
        """The point as written: secret fields back in place.

        Raises:
            EncryptionError: a missing or wrong key, or an altered point.
        """
        envelope = point.payload.get(ENVELOPE)
        if envelope is None:
            return point
        payload = {k: v for k, v in point.payload.items() if k != ENVELOPE}
        what = f"memory {point.id}"
        if not isinstance(envelope, dict):
            raise EncryptionError(f"{what}: the encrypted part is malformed")
        secret = json.loads(self.ring.open(envelope, _aad(point.id, payload), what))
        payload.update(secret)
        return StoredPoint(point.id, payload, point.vectors)

    def is_current(self, payload: dict[str, Any]) -> bool:
        """Whether a stored payload is sealed with the active key."""
        envelope = payload.get(ENVELOPE)
        active = self.ring.active
        return (
            isinstance(envelope, dict)
            and envelope.get("kid") == active.id
            and envelope.get("kf") == active.fingerprint
        )

    # -- the protocol ----------------------------------------------------------------------

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Encrypt, then insert or replace."""
        self.inner.upsert([self.seal(p) for p in points])

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids, decrypted."""
        return [self.unseal(p) for p in self.inner.retrieve(ids, with_vectors=with_vectors)]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete by id."""
        self.inner.delete(ids)

    def delete_where(self, where: Node | None) -> None:
        """Delete what a filter matches (filters see clear fields only)."""
        self.inner.delete_where(_clear(where))

    def search(
        self,
        vector: Sequence[float],
        *,
        using: str,
        where: Node | None = None,
        limit: int = 10,
        offset: int = 0,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """Nearest neighbours, decrypted."""
        hits = self.inner.search(
            vector,
            using=using,
            where=_clear(where),
            limit=limit,
            offset=offset,
            with_vectors=with_vectors,
        )
        return [ScoredPoint(self.unseal(h.point), h.score) for h in hits]

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points, decrypted."""
        page, following = self.inner.scroll(
            _clear(where), limit=limit, offset=offset, with_vectors=with_vectors
        )
        return [self.unseal(p) for p in page], following

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points by timestamp, decrypted."""
        points = self.inner.latest(_clear(where), limit=limit, ascending=ascending)
        return [self.unseal(p) for p in points]

    def count(self, where: Node | None = None) -> int:
        """Exact count."""
        return self.inner.count(_clear(where))

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts of a clear keyword field."""
        if key in SECRET_FIELDS:
            raise EncryptionError(f"{key!r} is encrypted in this store, so it cannot be counted")
        return self.inner.facet(key, _clear(where), limit)

    def status(self) -> StoreStatus:
        """The inner store's status."""
        return self.inner.status()

    def optimize(self) -> None:
        """Optimise the inner store."""
        self.inner.optimize()

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    # -- keys ------------------------------------------------------------------------------

    def key_usage(self, page_size: int = 1024) -> dict[str, int]:
        """How many points each key id sealed (`(clear)`: not encrypted)."""
        usage: dict[str, int] = {}
        offset: str | None = None
        while True:
            page, offset = self.inner.scroll(None, limit=page_size, offset=offset)
            for point in page:
                envelope = point.payload.get(ENVELOPE)
                name = str(envelope.get("kid")) if isinstance(envelope, dict) else CLEAR
                usage[name] = usage.get(name, 0) + 1
            if offset is None:
                return usage

    def rotate(
        self,
        *,
        batch_size: int = 256,
        hold: Callable[[], AbstractContextManager[Any]] = nullcontext,
        progress: Callable[[int, int], None] | None = None,
    ) -> RotationResult:
        """Re-encrypt with the active key every point sealed by another key or not at all.

        Runs while the store serves: it scans without holding anything, and holds `hold()`
        (the service's write gate) only while it re-reads and rewrites one batch, so a
        concurrent write is never overwritten by an older copy. Reads meanwhile accept both
        keys.

        Args:
            batch_size: points rewritten per batch.
            hold: a context that keeps writers out during one batch.
            progress: called with (scanned, reencrypted) after each page.

        Raises:
            EncryptionError: a point sealed by a key the ring no longer has.
        """
        scanned = rewritten = 0
        offset: str | None = None
        while True:
            page, offset = self.inner.scroll(None, limit=batch_size, offset=offset)
            stale = [p.id for p in page if not self.is_current(p.payload)]
            if stale:
                with hold():
                    fresh = self.inner.retrieve(stale, with_vectors=True)
                    todo = [p for p in fresh if not self.is_current(p.payload)]
                    self.inner.upsert([self.seal(self.unseal(p)) for p in todo])
                rewritten += len(todo)
            scanned += len(page)
            if progress is not None:
                progress(scanned, rewritten)
            if offset is None:
                return RotationResult(scanned, rewritten, self.ring.active.id)
