"""The mem0ai library's `Memory` as a store: memories other Mem0 tools can read.

Every memory is one Mem0 memory in mem0ai's Qdrant collection, in Mem0's own format: the text
in `data`, its `hash`, `created_at`/`updated_at`, the strategy as `agent_id` and the run as
`run_id`, the record's fields beside them as Mem0 metadata, and an ADD/UPDATE/DELETE trail in
Mem0's history database. `mem0.Memory.get`, `get_all`, `search` and `history` see them.

How the two models meet:

- Ids: Mem0 makes a random id per memory; ours derive from each memory's natural key. Writes
  therefore go through Mem0's vector store (`Memory.vector_store.insert`, the call
  `Memory.add` itself ends in) with our ids and the text vector the `Memory` facade embedded,
  so a second write of a memory replaces it. Identical rewrites are skipped, changed ones are
  recorded as UPDATE in the history.
- Vectors: Mem0 keeps one embedding per memory, the text. The market fingerprint is kept in
  the metadata (`ft_market`) and market search ranks candidates exactly, in numpy.
- Filters: translated into Mem0's filter dicts (`query.mem0_filters`) and applied by Mem0's
  Qdrant store; what they cannot express is evaluated in Python on the candidates.
- `infer: true` keeps every record verbatim and, in addition, passes its text through
  `Memory.add(..., infer=True)`: the facts the LLM extracts are stored beside it for Mem0's
  own tools (`freqtrade_mem0: "fact"`, `source_id`), and are invisible to this store.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from qdrant_client import models

from freqtrade_mem0.errors import ConfigError, StoreUnavailableError
from freqtrade_mem0.query.evaluate import evaluate
from freqtrade_mem0.query.mem0_filters import Mem0Filter, to_mem0_filter
from freqtrade_mem0.stores.base import (
    MARKET_VECTOR,
    TEXT_VECTOR,
    ScoredPoint,
    StoredPoint,
    StoreSpec,
    StoreStatus,
)
from freqtrade_mem0.stores.mem0_config import (
    build_setup,
    check_collection,
    mem0_errors,
    prepare_environment,
)
from freqtrade_mem0.stores.mem0_format import (
    FACT,
    MARK,
    MARKET_KEY,
    RECORD,
    SOURCE,
    deleted_row,
    entity_id,
    from_mem0,
    history_row,
    same,
    text_vector,
    to_mem0_payload,
)

if TYPE_CHECKING:
    from freqtrade_mem0.config import Settings
    from freqtrade_mem0.query import Node

logger = logging.getLogger(__name__)
_ONLY_RECORDS: Mem0Filter = {MARK: {"eq": RECORD}}
_PAGE = 1024


class Mem0Store:
    """A `MemoryStore` on mem0ai's `Memory` (its Qdrant vector store and history database)."""

    backend = "mem0"
    matches_texts = False  # the text is Mem0's `data`

    def __init__(self, spec: StoreSpec, settings: Settings, location: str = "mem0:") -> None:
        prepare_environment()
        from mem0 import Memory as Mem0Memory

        self.spec = spec
        self._lock = threading.RLock()  # local Qdrant and the history db are not thread-safe
        with mem0_errors(location):
            setup = build_setup(location, spec, settings)
        self.location = setup.location
        self.collection = setup.collection
        self.local = setup.local
        self.infer = setup.infer
        self._folder = setup.folder
        self._client: Any = setup.client
        self._mem0: Any = None
        try:
            with mem0_errors(self.location), warnings.catch_warnings():
                # mem0ai asks a client it did not build for payload indexes, which local
                # Qdrant ignores with a warning.
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                self._mem0 = Mem0Memory.from_config(setup.config)
                check_collection(self.client, setup, spec)
        except ValueError as exc:  # mem0ai checks its config with pydantic and by hand
            self.close()
            raise ConfigError(f"invalid mem0 settings: {exc}") from exc
        except BaseException:
            self.close()
            raise
        self._store: Any = self._mem0.vector_store

    @property
    def mem0(self) -> Any:
        """The mem0ai `Memory` underneath, for Mem0's own API (`get_all`, `search`, `history`)."""
        return self._mem0

    # -- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreUnavailableError(f"the store at {self.location} is closed")
        return self._client

    def _filter(self, where: Node | None) -> tuple[Any, Node | None]:
        """The Qdrant filter Mem0's store makes of the translated part, and the residual."""
        translation = to_mem0_filter(where)
        mem0_filter, extra = _ONLY_RECORDS, translation.filters
        if extra is not None:  # one flat AND: local Qdrant pays per nesting level and point
            mem0_filter = {"AND": [_ONLY_RECORDS, *extra.get("AND", [extra])]}
        # Mem0's Qdrant store applies its filter dicts through this method in search/list.
        return self._store._create_filter(mem0_filter), translation.residual

    def _scan(
        self, qfilter: Any, residual: Node | None, keys: list[str] | None = None
    ) -> Iterator[Any]:
        """Every point a Qdrant filter and a residual match, in id order.

        `keys` limits the payload returned to those keys (when there is no residual to
        evaluate): local Qdrant copies every payload it returns.
        """
        payload: bool | list[str] = True if keys is None or residual is not None else keys
        offset = None
        while True:
            page, offset = self.client.scroll(
                self.collection,
                scroll_filter=qfilter,
                limit=_PAGE,
                offset=offset,
                with_payload=payload,
            )
            yield from (r for r in page if residual is None or evaluate(residual, r.payload))
            if offset is None:
                return

    # -- writing -------------------------------------------------------------------------

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points; identical rewrites change nothing, not even the history."""
        if not points:
            return
        now = datetime.now(UTC).isoformat()
        batch = {p.id: (p, to_mem0_payload(p, now)) for p in points}
        with self._lock, mem0_errors(self.location):
            old = {
                str(r.id): r.payload or {}
                for r in self.client.retrieve(self.collection, ids=list(batch), with_payload=True)
            }
            changed = [i for i, (_, new) in batch.items() if not same(old.get(i), new)]
            if not changed:
                return
            self._store.insert(
                vectors=[text_vector(batch[i][0]) for i in changed],
                payloads=[batch[i][1] for i in changed],
                ids=changed,
            )
            self._mem0.db.batch_add_history(
                [history_row(i, old.get(i), batch[i][1]) for i in changed]
            )
            if self.infer:
                self._delete_facts([i for i in changed if i in old])
                for i in changed:
                    self._derive_facts(i, batch[i][1])

    def _derive_facts(self, record_id: str, payload: dict[str, Any]) -> None:
        """Let Mem0's LLM extract facts from a record; the record is stored whatever happens."""
        run = payload.get("run_id")
        try:
            self._mem0.add(
                [{"role": "user", "content": payload["data"]}],
                agent_id=payload.get("agent_id"),
                run_id=entity_id(run) if run else None,
                metadata={MARK: FACT, SOURCE: record_id},
                infer=True,
            )
        except Exception as exc:  # an LLM outage must not hold back the verbatim records
            logger.warning("mem0 could not derive facts from memory %s: %s", record_id, exc)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id, and the facts derived from them."""
        if not ids:
            return
        with self._lock, mem0_errors(self.location):
            found = self.client.retrieve(self.collection, ids=list(ids), with_payload=True)
            self._remove([r for r in found if (r.payload or {}).get(MARK) == RECORD])

    def delete_where(self, where: Node | None) -> None:
        """Delete every point the filter matches."""
        with self._lock, mem0_errors(self.location):
            doomed = list(self._scan(*self._filter(where)))
            for start in range(0, len(doomed), _PAGE):
                self._remove(doomed[start : start + _PAGE])

    def _remove(self, records: list[Any]) -> None:
        if not records:
            return
        ids = [str(r.id) for r in records]
        self.client.delete(self.collection, points_selector=models.PointIdsList(points=[*ids]))
        now = datetime.now(UTC).isoformat()
        self._mem0.db.batch_add_history([deleted_row(r, now) for r in records])
        self._delete_facts(ids)

    def _delete_facts(self, record_ids: list[str]) -> None:
        if not record_ids:
            return
        facts_of = {"AND": [{MARK: {"eq": FACT}}, {SOURCE: {"in": record_ids}}]}
        facts = list(self._scan(self._store._create_filter(facts_of), None))
        if facts:
            self.client.delete(
                self.collection,
                points_selector=models.PointIdsList(points=[str(f.id) for f in facts]),
            )
            now = datetime.now(UTC).isoformat()
            self._mem0.db.batch_add_history([deleted_row(f, now) for f in facts])

    # -- reading -------------------------------------------------------------------------

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids."""
        if not ids:
            return []
        with self._lock, mem0_errors(self.location):
            found = self.client.retrieve(
                self.collection, ids=list(ids), with_payload=True, with_vectors=with_vectors
            )
        return [from_mem0(r) for r in found if (r.payload or {}).get(MARK) == RECORD]

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
        """Nearest neighbours: text by Qdrant (cosine), market exactly in numpy (Euclid)."""
        with self._lock, mem0_errors(self.location):
            if using == TEXT_VECTOR:
                return self._text_search(vector, where, offset + limit, with_vectors)[offset:]
            if using == MARKET_VECTOR:
                return self._market_search(vector, where, limit, offset, with_vectors)
        raise ValueError(f"unknown vector {using!r}: use {TEXT_VECTOR!r} or {MARKET_VECTOR!r}")

    def _text_search(
        self, vector: Sequence[float], where: Node | None, wanted: int, with_vectors: bool
    ) -> list[ScoredPoint]:
        qfilter, residual = self._filter(where)
        fetch = wanted if residual is None else max(4 * wanted, 64)
        while True:  # over-fetch until enough hits pass the residual, or none are left
            hits = self.client.query_points(
                self.collection,
                query=[float(x) for x in vector],
                query_filter=qfilter,
                limit=fetch,
                with_payload=True,
                with_vectors=with_vectors,
            ).points
            kept = [h for h in hits if residual is None or evaluate(residual, h.payload)]
            if len(kept) >= wanted or len(hits) < fetch:
                return [ScoredPoint(from_mem0(h), float(h.score)) for h in kept[:wanted]]
            fetch *= 4

    def _market_search(
        self,
        vector: Sequence[float],
        where: Node | None,
        limit: int,
        offset: int,
        with_vectors: bool,
    ) -> list[ScoredPoint]:
        probe = np.asarray(vector, dtype=np.float64)
        candidates = [
            (str(r.id), market)
            for r in self._scan(*self._filter(where), keys=[MARKET_KEY])
            if len(market := (r.payload or {}).get(MARKET_KEY) or ()) == probe.shape[0]
        ]
        if not candidates:
            return []
        matrix = np.asarray([market for _, market in candidates], dtype=np.float64)
        distances = np.linalg.norm(matrix - probe, axis=1)
        order = np.argsort(distances, kind="stable")[offset : offset + limit]
        ids = [candidates[i][0] for i in order]
        # The scan read fingerprints only; the few chosen are read whole.
        found = self.client.retrieve(self.collection, ids=ids, with_vectors=with_vectors)
        by_id = {str(r.id): r for r in found}
        return [
            ScoredPoint(from_mem0(by_id[i]), float(distances[n]))
            for i, n in zip(ids, order, strict=True)
            if i in by_id
        ]

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points in id order."""
        with self._lock, mem0_errors(self.location):
            qfilter, residual = self._filter(where)
            found: list[StoredPoint] = []
            cursor: Any = offset
            while True:
                page, after = self.client.scroll(
                    self.collection,
                    scroll_filter=qfilter,
                    limit=limit if residual is None else max(limit, _PAGE),
                    offset=cursor,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
                for n, record in enumerate(page):
                    if residual is not None and not evaluate(residual, record.payload):
                        continue
                    found.append(from_mem0(record))
                    if len(found) == limit:  # the next page starts right after this point
                        rest = page[n + 1 :]
                        following = rest[0].id if rest else after
                        return found, None if following is None else str(following)
                if after is None:
                    return found, None
                cursor = after

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points ordered by timestamp."""
        direction = models.Direction.ASC if ascending else models.Direction.DESC
        with self._lock, mem0_errors(self.location):
            qfilter, residual = self._filter(where)
            fetch = limit if residual is None else max(4 * limit, 64)
            while True:
                page, _ = self.client.scroll(
                    self.collection,
                    scroll_filter=qfilter,
                    limit=fetch,
                    order_by=models.OrderBy(key="timestamp", direction=direction),
                    with_payload=True,
                )
                kept = [r for r in page if residual is None or evaluate(residual, r.payload)]
                if len(kept) >= limit or len(page) < fetch:
                    return [from_mem0(r) for r in kept[:limit]]
                fetch *= 4

    def count(self, where: Node | None = None) -> int:
        """Exact count."""
        with self._lock, mem0_errors(self.location):
            qfilter, residual = self._filter(where)
            if residual is None:
                return int(
                    self.client.count(self.collection, count_filter=qfilter, exact=True).count
                )
            return sum(1 for _ in self._scan(qfilter, residual))

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts of a keyword field."""
        with self._lock, mem0_errors(self.location):
            qfilter, residual = self._filter(where)
            if residual is None:
                response = self.client.facet(
                    self.collection, key, facet_filter=qfilter, limit=limit, exact=True
                )
                return {str(hit.value): int(hit.count) for hit in response.hits}
            counts: Counter[str] = Counter()
            for record in self._scan(qfilter, residual):
                value = (record.payload or {}).get(key)
                values = value if isinstance(value, list) else [value]
                counts.update({v for v in values if isinstance(v, str)})
            return dict(counts.most_common(limit))

    def status(self) -> StoreStatus:
        """Memories, vectors and segments of the Mem0 collection."""
        with self._lock, mem0_errors(self.location):
            info = self.client.get_collection(self.collection)
            points = self.count()
        disk = None
        if self._folder is not None and self._folder.exists():
            disk = sum(f.stat().st_size for f in self._folder.rglob("*") if f.is_file())
        status = getattr(info.status, "value", str(info.status))
        mode = "infer (LLM facts kept beside the records)" if self.infer else "verbatim"
        return StoreStatus(
            backend=self.backend,
            location=self.location,
            points=points,
            indexed_vectors=int(info.indexed_vectors_count or 0),
            segments=int(info.segments_count or 0),
            healthy=status in ("green", "yellow"),
            detail=f"Mem0 collection {self.collection}: {status}, {mode}",
            disk_bytes=disk,
            payload_indexes=tuple(sorted(info.payload_schema or {})),
        )

    def optimize(self) -> None:
        """Ask a Qdrant server to merge segments now (a local store has nothing to optimise)."""
        if self.local:
            return
        with self._lock, mem0_errors(self.location):
            self.client.update_collection(
                self.collection, optimizers_config=models.OptimizersConfigDiff()
            )

    def close(self) -> None:
        """Close Mem0's history database and the Qdrant client."""
        with self._lock:
            client, self._client = self._client, None
            if client is None:
                return
            with mem0_errors(self.location):
                if self._mem0 is not None:
                    self._mem0.close()
                client.close()
