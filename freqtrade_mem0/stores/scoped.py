"""A view of a store limited to some strategies: what a strategy-limited credential sees.

Every query gets `AND strategy:(...)`; points of other strategies are left out of reads by id
(so they read as absent: 404), and a write of a memory outside the scope, or over one, is
refused. The service wraps its store in one per request of a limited principal, so every
route (the public ones and the store protocol) is limited the same way without code of its
own. Closing the view leaves the store open: the service owns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from freqtrade_mem0.errors import PermissionDeniedError
from freqtrade_mem0.query import and_, any_of
from freqtrade_mem0.stores.base import MemoryStore, ScoredPoint, StoredPoint, StoreStatus

if TYPE_CHECKING:
    from freqtrade_mem0.query import Node


class ScopedStore:
    """A `MemoryStore` showing only the memories of some strategies.

    Args:
        inner: the whole store.
        strategies: the strategies within the scope.
    """

    def __init__(self, inner: MemoryStore, strategies: Iterable[str]) -> None:
        self.inner = inner
        self.strategies = frozenset(strategies)
        self.backend = inner.backend
        self.location = inner.location
        self.matches_texts = inner.matches_texts
        self._scope = any_of("strategy", sorted(self.strategies))

    def _where(self, where: Node | None) -> Node | None:
        return and_(where, self._scope)

    def _visible(self, points: Iterable[StoredPoint]) -> list[StoredPoint]:
        return [p for p in points if p.payload.get("strategy") in self.strategies]

    def _outside(self, what: str) -> PermissionDeniedError:
        names = ", ".join(sorted(self.strategies))
        return PermissionDeniedError(
            f"{what} belongs to a strategy outside this credential's scope ({names})"
        )

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points of the scope's strategies only.

        Raises:
            PermissionDeniedError: a point of another strategy, or one that would replace a
                memory of another strategy (nothing is written then).
        """
        for point in points:
            if point.payload.get("strategy") not in self.strategies:
                raise self._outside(
                    f"memory {point.id} (strategy {point.payload.get('strategy')!r})"
                )
        for existing in self.inner.retrieve([p.id for p in points]):
            if existing.payload.get("strategy") not in self.strategies:
                raise self._outside(f"the stored memory {existing.id}")
        self.inner.upsert(points)

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids, within the scope."""
        return self._visible(self.inner.retrieve(ids, with_vectors=with_vectors))

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; ids outside the scope are ignored as unknown ones are."""
        self.inner.delete([p.id for p in self.retrieve(ids)])

    def delete_where(self, where: Node | None) -> None:
        """Delete what the filter matches within the scope."""
        self.inner.delete_where(self._where(where))

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
        """Nearest neighbours within the scope."""
        return self.inner.search(
            vector,
            using=using,
            where=self._where(where),
            limit=limit,
            offset=offset,
            with_vectors=with_vectors,
        )

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points within the scope."""
        return self.inner.scroll(
            self._where(where), limit=limit, offset=offset, with_vectors=with_vectors
        )

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points by timestamp within the scope."""
        return self.inner.latest(self._where(where), limit=limit, ascending=ascending)

    def count(self, where: Node | None = None) -> int:
        """Exact count within the scope."""
        return self.inner.count(self._where(where))

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts within the scope."""
        return self.inner.facet(key, self._where(where), limit)

    def status(self) -> StoreStatus:
        """The store's health, with the scope's point count (not the whole store's figures)."""
        whole = self.inner.status()
        return StoreStatus(
            backend=whole.backend,
            location=whole.location,
            points=self.count(None),
            indexed_vectors=0,
            segments=0,
            healthy=whole.healthy,
            detail=f"limited to strategies {', '.join(sorted(self.strategies))}",
            disk_bytes=None,
            payload_indexes=whole.payload_indexes,
        )

    def optimize(self) -> None:
        """Refused: optimising concerns the whole store."""
        raise PermissionDeniedError(
            "optimising concerns the whole store; a strategy-limited credential may not"
        )

    def close(self) -> None:
        """Nothing: the whole store stays open."""
