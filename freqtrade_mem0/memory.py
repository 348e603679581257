"""The `Memory` facade: the one entry point the mixin, the CLI and the service all use.

It turns records into points (embedding their text), queries into filters, and builds the
operations every backend shares (hybrid search, stats, export, import) on the few methods of
the store protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Self, TypeVar

import numpy as np
from pydantic import ValidationError

from freqtrade_mem0 import fingerprint
from freqtrade_mem0.config import Settings, load_settings
from freqtrade_mem0.embedding import Embedder, make_embedder
from freqtrade_mem0.errors import EncryptionError, InvalidMemoryError, NotFoundError
from freqtrade_mem0.models import (
    MemoryCreate,
    MemoryRecord,
    format_validation_error,
    parse_create,
)
from freqtrade_mem0.query import MatchAny, Node, ParsedQuery, and_, eq, parse
from freqtrade_mem0.stores import (
    MARKET_VECTOR,
    TEXT_VECTOR,
    MemoryStore,
    StoredPoint,
    StoreSpec,
    StoreStatus,
    open_store,
)

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
RRF_K = 60  # reciprocal-rank-fusion constant (the usual choice; insensitive in practice)
FACETS = ("type", "kind", "strategy", "pair", "mode")


@dataclass(frozen=True)
class Hit:
    """A search result: the memory and its score (None when the search had no vector part)."""

    record: MemoryRecord
    score: float | None


@dataclass(frozen=True)
class WriteResult:
    """What a write did: ids written, and ids skipped because they were already stored."""

    written: list[str]
    skipped: list[str]


def store_spec(embedder: Embedder) -> StoreSpec:
    """The vector spaces a store must have for this embedder and the current fingerprint."""
    return StoreSpec(
        text_dim=embedder.dim,
        market_dim=fingerprint.DIM,
        embedder=embedder.name,
        fingerprint_version=fingerprint.FINGERPRINT_VERSION,
    )


def to_point(record: MemoryRecord, text_vector: Sequence[float] | np.ndarray) -> StoredPoint:
    """A record and its text vector as a store point."""
    # An array's `tolist` gives Python floats already, the form the stores take fastest.
    values = (
        text_vector.tolist()
        if isinstance(text_vector, np.ndarray)
        else [float(x) for x in text_vector]
    )
    vectors = {TEXT_VECTOR: values}
    if record.market is not None:
        vectors[MARKET_VECTOR] = list(record.market)
    return StoredPoint(id=record.id, payload=record.to_payload(), vectors=vectors)


def to_record(point: StoredPoint) -> MemoryRecord:
    """A store point back as a record.

    Raises:
        EncryptionError: the point is encrypted and this process has no key for it.
    """
    if "enc" in point.payload:  # stores.encrypted.ENVELOPE: an EncryptedStore decrypts it
        raise EncryptionError(
            f"memory {point.id} is encrypted at rest; configure its key "
            "(encryption_keys or encryption_key_file) to read it"
        )
    return MemoryRecord.from_payload(point.payload, point.vectors.get(MARKET_VECTOR))


class Memory:
    """Remember, search, recall, export and back up trading memories.

    Example:
        >>> with Memory.open("user_data/mem0") as memory:  # doctest: +SKIP
        ...     hits = memory.search("strategy:MyStrategy AND profit:>1.0", limit=5)
    """

    def __init__(self, store: MemoryStore, embedder: Embedder, settings: Settings | None = None):
        self.store = store
        self.embedder = embedder
        self.settings = settings or Settings()

    @classmethod
    def open(
        cls,
        location: str | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        user_data_dir: str | Path | None = None,
    ) -> Self:
        """Open the store a location names (default: the settings' choice, else the embedded
        store under `<user_data_dir>/mem0`)."""
        settings = settings or load_settings()
        embedder = embedder or make_embedder(settings.embedder)
        where = location or settings.location(user_data_dir)
        return cls(open_store(where, store_spec(embedder), settings), embedder, settings)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the store (flushing an embedded one)."""
        self.store.close()

    # -- writing -------------------------------------------------------------------------

    def remember(
        self,
        records: MemoryRecord | Iterable[MemoryRecord],
        *,
        batch_size: int = 256,
        skip_existing: bool = False,
        text_vectors: Mapping[str, np.ndarray] | None = None,
        reuse_where: Node | None = None,
    ) -> WriteResult:
        """Store records (an idempotent upsert by their deterministic ids).

        Args:
            records: one record or many.
            batch_size: records embedded and written per store call.
            skip_existing: leave records whose id is already stored untouched (re-ingesting a
                run then writes nothing and embeds nothing).
            text_vectors: vectors this memory's embedder already made, by text; those texts
                are not embedded again.
            reuse_where: stored memories that may hold the same texts (e.g. this strategy's,
                when a backtest runs again): their text vectors are reused, not recomputed.
        """
        if isinstance(records, MemoryRecord):
            records = [records]
        written: list[str] = []
        skipped: list[str] = []
        for chunk in batched(records, batch_size):
            batch = list({r.id: r for r in chunk}.values())  # the same memory twice is one memory
            self.check(batch)
            if skip_existing:
                have = {p.id for p in self.store.retrieve([r.id for r in batch])}
                skipped.extend(r.id for r in batch if r.id in have)
                batch = [r for r in batch if r.id not in have]
            if not batch:
                continue
            vectors = self._text_vectors(batch, text_vectors or {}, reuse_where)
            self.store.upsert([to_point(r, v) for r, v in zip(batch, vectors, strict=True)])
            written.extend(r.id for r in batch)
        return WriteResult(written, skipped)

    def _text_vectors(
        self, batch: list[MemoryRecord], known: Mapping[str, np.ndarray], reuse_where: Node | None
    ) -> list[np.ndarray]:
        missing = list(dict.fromkeys(r.text for r in batch if r.text not in known))
        if missing and reuse_where is not None:
            stored = self.stored_text_vectors(missing, reuse_where)
            known = {**known, **stored}
            missing = [text for text in missing if text not in stored]
        made = dict(zip(missing, self.embedder.embed(missing), strict=True)) if missing else {}
        return [known[r.text] if r.text in known else made[r.text] for r in batch]

    def stored_text_vectors(
        self, texts: Iterable[str], where: Node | None
    ) -> dict[str, np.ndarray]:
        """The text vectors of stored memories with these exact texts, among those `where`
        matches (narrow it, e.g. to one strategy, to keep the read short on a large store).

        A store holds vectors of one embedder (`store.json` and the collections record it), so
        the same text has the same vector: a backtest run again embeds only its new trades.
        Stores where a text cannot be matched (`MemoryStore.matches_texts`) find none.
        """
        wanted = set(texts)
        if not wanted or not self.store.matches_texts:
            return {}
        node = and_(where, MatchAny("text", tuple(sorted(wanted))))
        found: dict[str, np.ndarray] = {}
        # A text may be stored once per earlier run: pages are read until each is found.
        for point in self._points(node, 2 * len(wanted), with_vectors=True):
            text, vector = point.payload.get("text"), point.vectors.get(TEXT_VECTOR)
            if text in wanted and text not in found and vector is not None:
                found[text] = np.asarray(vector, dtype=np.float32)
                if len(found) == len(wanted):
                    break
        return found

    def check(self, records: Iterable[MemoryRecord]) -> None:
        """Refuse records this store cannot hold (a market fingerprint of another size).

        Raises:
            InvalidMemoryError: naming the record.
        """
        for record in records:
            if record.market is not None and len(record.market) != fingerprint.DIM:
                raise InvalidMemoryError(
                    f"memory {record.key!r}: market holds {len(record.market)} values, the "
                    f"market fingerprint has {fingerprint.DIM}"
                )

    def add(self, memory: MemoryCreate | dict[str, Any]) -> MemoryRecord:
        """Store one memory in the wire format and return it as stored."""
        create = memory if isinstance(memory, MemoryCreate) else parse_create(memory)
        record = create.to_record()
        self.remember(record)
        return record

    # -- reading -------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryRecord:
        """The memory with this id.

        Raises:
            NotFoundError: no memory has this id.
        """
        found = self.get_many([memory_id])
        if not found:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found[0]

    def get_many(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """The memories with these ids (unknown ids are left out)."""
        return [to_record(p) for p in self.store.retrieve(list(ids), with_vectors=True)]

    def search(
        self,
        query: str | ParsedQuery = "",
        *,
        limit: int = 10,
        offset: int = 0,
        type: str | None = None,
        where: Node | None = None,
        market: Sequence[float] | None = None,
    ) -> list[Hit]:
        """Search with the query language.

        Field terms filter; free text is searched by meaning; `market` (a fingerprint) finds
        similar market conditions. Text and market together are fused by reciprocal rank.
        Without either, the newest matching memories come first.

        Args:
            query: e.g. `strategy:MyStrategy AND profit:>1.0 losing longs`.
            limit: results per page.
            offset: results to skip (pagination).
            type: shorthand for `AND type:<type>`.
            where: an extra filter built in code (ANDed with the query's).
            market: a market fingerprint to search near.
        """
        parsed = parse(query) if isinstance(query, str) else query
        node = and_(parsed.where, where, eq("type", type) if type else None)
        text_vector = self.embedder.embed([parsed.text])[0] if parsed.text else None
        if text_vector is not None and market is not None:
            return self._fused(text_vector, market, node, limit, offset)
        if text_vector is not None or market is not None:
            using, vector = (
                (TEXT_VECTOR, text_vector) if text_vector is not None else (MARKET_VECTOR, market)
            )
            assert vector is not None
            hits = self.store.search(
                list(vector), using=using, where=node, limit=limit, offset=offset, with_vectors=True
            )
            return [Hit(to_record(h.point), h.score) for h in hits]
        points = self.store.latest(node, limit=offset + limit)
        return [Hit(to_record(p), None) for p in points[offset:]]

    def _fused(
        self,
        text_vector: np.ndarray,
        market: Sequence[float],
        where: Node | None,
        limit: int,
        offset: int,
    ) -> list[Hit]:
        depth = 2 * (offset + limit)
        rankings = [
            self.store.search(list(v), using=u, where=where, limit=depth, with_vectors=True)
            for u, v in ((TEXT_VECTOR, text_vector), (MARKET_VECTOR, market))
        ]
        scores: dict[str, float] = {}
        points: dict[str, StoredPoint] = {}
        for ranking in rankings:
            for rank, hit in enumerate(ranking):
                scores[hit.point.id] = scores.get(hit.point.id, 0.0) + 1.0 / (RRF_K + rank + 1)
                points[hit.point.id] = hit.point
        ordered = sorted(scores, key=lambda i: -scores[i])[offset : offset + limit]
        return [Hit(to_record(points[i]), scores[i]) for i in ordered]

    def iterate(
        self, query: str | Node | None = None, *, batch_size: int = 512, with_vectors: bool = True
    ) -> Iterator[MemoryRecord]:
        """Every memory a filter matches, in id order, a page at a time."""
        return (to_record(p) for p in self._points(query, batch_size, with_vectors))

    def ids(self, query: str | Node | None = None, *, batch_size: int = 1024) -> Iterator[str]:
        """The ids of every memory a filter matches, in id order (no records are built)."""
        return (p.id for p in self._points(query, batch_size, with_vectors=False))

    def _points(
        self, query: str | Node | None, batch_size: int, with_vectors: bool
    ) -> Iterator[StoredPoint]:
        node = self._where(query)
        offset: str | None = None
        while True:
            page, offset = self.store.scroll(
                node, limit=batch_size, offset=offset, with_vectors=with_vectors
            )
            yield from page
            if offset is None:
                return

    def count(self, query: str | Node | None = None) -> int:
        """How many memories a filter matches."""
        return self.store.count(self._where(query))

    def status(self) -> StoreStatus:
        """The store's health and size."""
        return self.store.status()

    def stats(self, query: str | Node | None = None) -> dict[str, Any]:
        """Counts by type, kind, strategy, pair and mode, and the time span covered."""
        node = self._where(query)
        first = self.store.latest(node, limit=1, ascending=True)
        last = self.store.latest(node, limit=1)
        return {
            "total": self.store.count(node),
            **{f"by_{key}": self.store.facet(key, node) for key in FACETS},
            "first": first[0].payload["timestamp"] if first else None,
            "last": last[0].payload["timestamp"] if last else None,
        }

    def history(
        self,
        query: str | Node | None = None,
        *,
        strategy: str | None = None,
        per: Literal["run", "pair"] = "run",
    ) -> pd.DataFrame:
        """Backtest runs in the order they were made, with the change from each run to the next.

        One row per strategy run (`per="run"`) or per run and pair (`per="pair"`); see
        `freqtrade_mem0.history.history_frame` for the columns.

        Example:
            >>> runs = memory.history(strategy="MyStrategy")  # doctest: +SKIP
            >>> runs[["when", "profit", "profit_change", "changed"]]  # doctest: +SKIP
        """
        from freqtrade_mem0.history.table import history_frame  # the history package imports this

        return history_frame(self, query, strategy=strategy, per=per)

    # -- deleting ------------------------------------------------------------------------

    def delete(self, ids: str | Sequence[str]) -> list[str]:
        """Delete memories by id; returns the ids that existed."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        existing = [p.id for p in self.store.retrieve(ids)]
        self.store.delete(existing)
        return existing

    def delete_where(self, query: str | Node | None, *, older_than: datetime | None = None) -> int:
        """Delete every memory a filter matches (and older than a time); returns how many."""
        from freqtrade_mem0.query import between

        node = and_(self._where(query), between("timestamp", lt=older_than) if older_than else None)
        removed = self.store.count(node)
        if removed:
            self.store.delete_where(node)
        return removed

    # -- moving memories in and out --------------------------------------------------------

    def export_jsonl(self, out: IO[str], query: str | Node | None = None) -> int:
        """Write memories as JSON lines in the wire format; returns how many."""
        written = 0
        for record in self.iterate(query):
            out.write(json.dumps(record.to_public().model_dump(mode="json")) + "\n")
            written += 1
        return written

    def import_jsonl(self, lines: Iterable[str], *, batch_size: int = 256) -> WriteResult:
        """Read wire-format JSON lines (as `export_jsonl` writes); idempotent by id.

        Raises:
            InvalidMemoryError: naming the line and the field; nothing is written then.
        """
        records = [
            record_from_line(n, line) for n, line in enumerate(lines, start=1) if line.strip()
        ]
        return self.remember(records, batch_size=batch_size)

    def optimize(self) -> None:
        """Merge segments and build indexes now."""
        self.store.optimize()

    def _where(self, query: str | Node | None) -> Node | None:
        if query is None or isinstance(query, str):
            return parse(query or "").where
        return query


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def record_from_line(number: int, line: str) -> MemoryRecord:
    """A record from line `number` of `export_jsonl` output.

    Raises:
        InvalidMemoryError: naming the line and the field.
    """
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidMemoryError(f"line {number}: not JSON ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise InvalidMemoryError(f"line {number}: expected a JSON object")
    try:
        return record_from_export(raw)
    except InvalidMemoryError as exc:
        raise InvalidMemoryError(f"line {number}: {exc}") from exc


def record_from_export(raw: Mapping[str, Any]) -> MemoryRecord:
    """A record from one exported memory (a decoded line of `export_jsonl`).

    Raises:
        InvalidMemoryError: naming the field.
    """
    try:
        create = MemoryCreate.model_validate(
            {"messages": raw.get("messages"), "metadata": raw.get("metadata")}
        )
        record = create.to_record()
        if raw.get("created_at"):  # keep the original creation time across export/import
            record = MemoryRecord.model_validate(
                {**record.model_dump(), "created_at": raw["created_at"]}
            )
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc)) from exc
    return record
