"""A memory service (`freqtrade-mem0 serve`) as a store: `http://host:8080`.

The service's store protocol (`/v1/store/...`, see `freqtrade_mem0.service.routes.store`) has
one route per `MemoryStore` method, so the mixin and the CLI run the same `Memory` facade on a
remote service as on the embedded store: they embed texts themselves and exchange points.
Filters travel as field-only queries (`to_lucene` renders the AST, the service parses it back).
The service refuses a client whose embedder or fingerprint differs from its own.

Errors come back as the package's own: the service names the exception in each error answer,
and an unreachable service, a timeout or a 5xx answer is `StoreUnavailableError` (the outbox
keeps memories until the service is back).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from freqtrade_mem0 import errors
from freqtrade_mem0.errors import (
    AuthenticationError,
    ConfigError,
    IncompatibleStoreError,
    InvalidMemoryError,
    NotFoundError,
    OperationalError,
    PermissionDeniedError,
    QuerySyntaxError,
    StoreUnavailableError,
)
from freqtrade_mem0.stores.base import ScoredPoint, StoredPoint, StoreSpec, StoreStatus

if TYPE_CHECKING:
    from freqtrade_mem0.config import Settings
    from freqtrade_mem0.query import Node

PREFIX = "/v1/store"
UPSERT_BATCH = 256  # points per request: ~2 MB of JSON, well under the service's body limit
IDS_BATCH = 1000
# Errors the service may name, by name; anything else maps by status.
_NAMED: dict[str, type[errors.Mem0Error]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.OperationalError)
}


def _where(where: Node | None) -> str:
    from freqtrade_mem0.query import to_lucene

    return to_lucene(where)


def _uuids(ids: Sequence[str]) -> list[str]:
    """The ids that can name a memory (every memory id is a UUID); others cannot exist."""
    valid = []
    for value in ids:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def _point(raw: dict[str, Any]) -> StoredPoint:
    return StoredPoint(id=raw["id"], payload=raw["payload"], vectors=raw.get("vectors") or {})


class HttpStore:
    """A `MemoryStore` on a memory service's store protocol.

    Args:
        location: the service's base URL, `http(s)://host:port`.
        spec: the vector spaces this process embeds into (checked against the service's).
        settings: `api_key` (sent as a bearer token), `ca_bundle`, `timeout_seconds`.
        client: an HTTP client to use instead of a new one (tests).

    Raises:
        StoreUnavailableError: the service cannot be reached.
        IncompatibleStoreError: the service embeds with another embedder or fingerprint.
    """

    backend = "http"
    matches_texts = False  # the service's query language has no text field

    def __init__(
        self,
        location: str,
        spec: StoreSpec,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.location = location.rstrip("/")
        self.spec = spec
        headers = {"User-Agent": "freqtrade-mem0 HttpStore"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client: httpx.Client | None = client or httpx.Client(
            base_url=self.location,
            headers=headers,
            timeout=settings.timeout_seconds,
            verify=settings.ca_bundle or True,
        )
        self._check_spec()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise StoreUnavailableError(f"the store at {self.location} is closed")
        return self._client

    def _check_spec(self) -> None:
        remote = self._call("GET", "/spec")
        for name in ("embedder", "text_dim", "market_dim", "fingerprint_version"):
            want, have = getattr(self.spec, name), remote.get(name)
            if want != have:
                raise IncompatibleStoreError(
                    f"the memory service at {self.location} uses {name}={have!r}, this process "
                    f"{want!r}. Use the service's setting here (embedder: {remote.get('embedder')})"
                )

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return self.request(method, PREFIX + path, json=body, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call any route of the service with this store's credentials; its JSON answer.

        Raises:
            Mem0Error: the service's error, as the package's exception.
        """
        with self._errors():
            response = self.client.request(method, path, **kwargs)
        if response.is_success:
            return response.json()
        raise self._error(response)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
                # Not temporary: this certificate will not become trusted by waiting.
                raise ConfigError(
                    f"the memory service at {self.location} presented a certificate this "
                    f"process does not trust ({exc}); set ca_bundle (MEM0_CA_BUNDLE) to the "
                    "CA that signed it"
                ) from exc
            raise StoreUnavailableError(
                f"the memory service at {self.location} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        except httpx.TransportError as exc:  # connection refused, reset, timeout, TLS
            raise StoreUnavailableError(
                f"the memory service at {self.location} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc

    def _error(self, response: httpx.Response) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        detail = str(body.get("detail") or response.text[:500] or response.reason_phrase)
        where = f"the memory service at {self.location}"
        status = response.status_code
        if status >= 500 or status in (408, 429):
            return StoreUnavailableError(f"{where} answered {status}: {detail}")
        kind = _NAMED.get(str(body.get("error")))
        if kind is QuerySyntaxError:
            error = QuerySyntaxError(detail)
            error.query = str(body.get("query") or "")
            error.position = body.get("position")
            return error
        if kind is not None:
            return kind(detail)
        by_status: dict[int, type[OperationalError]] = {
            401: AuthenticationError,
            403: PermissionDeniedError,
            404: NotFoundError,
            422: InvalidMemoryError,  # a request the service's models refused: a bad point
        }
        return by_status.get(status, OperationalError)(f"{where} answered {status}: {detail}")

    # -- the protocol ----------------------------------------------------------------------

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points, a few hundred per request."""
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [
                {"id": p.id, "payload": p.payload, "vectors": p.vectors}
                for p in points[start : start + UPSERT_BATCH]
            ]
            self._call("POST", "/upsert", {"points": batch})

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points with these ids."""
        wanted = _uuids(ids)
        found: list[StoredPoint] = []
        for start in range(0, len(wanted), IDS_BATCH):
            body = {"ids": wanted[start : start + IDS_BATCH], "with_vectors": with_vectors}
            found += [_point(p) for p in self._call("POST", "/retrieve", body)["points"]]
        return found

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id."""
        wanted = _uuids(ids)
        for start in range(0, len(wanted), IDS_BATCH):
            self._call("POST", "/delete", {"ids": wanted[start : start + IDS_BATCH]})

    def delete_where(self, where: Node | None) -> None:
        """Delete every point the filter matches."""
        self._call("POST", "/delete-where", {"where": _where(where)})

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
        """Nearest neighbours in one named vector space."""
        body = {
            "vector": [float(x) for x in vector],
            "using": using,
            "where": _where(where),
            "limit": limit,
            "offset": offset,
            "with_vectors": with_vectors,
        }
        hits = self._call("POST", "/search", body)["hits"]
        return [ScoredPoint(_point(h["point"]), float(h["score"])) for h in hits]

    def scroll(
        self,
        where: Node | None = None,
        *,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points in id order."""
        body = {
            "where": _where(where),
            "limit": limit,
            "offset": offset,
            "with_vectors": with_vectors,
        }
        page = self._call("POST", "/scroll", body)
        return [_point(p) for p in page["points"]], page["next_offset"]

    def latest(
        self, where: Node | None = None, *, limit: int = 10, ascending: bool = False
    ) -> list[StoredPoint]:
        """Points ordered by timestamp."""
        body = {"where": _where(where), "limit": limit, "ascending": ascending}
        return [_point(p) for p in self._call("POST", "/latest", body)["points"]]

    def count(self, where: Node | None = None) -> int:
        """Exact count."""
        return int(self._call("POST", "/count", {"where": _where(where)})["count"])

    def facet(self, key: str, where: Node | None = None, limit: int = 100) -> dict[str, int]:
        """Value counts of a keyword field."""
        body = {"key": key, "where": _where(where), "limit": limit}
        counts = self._call("POST", "/facet", body)["counts"]
        return {str(k): int(v) for k, v in counts.items()}

    def status(self) -> StoreStatus:
        """The service's collection, as the service's own store reports it."""
        raw = self._call("GET", "/status")
        return StoreStatus(
            backend=self.backend,
            location=self.location,
            points=int(raw["points"]),
            indexed_vectors=int(raw["indexed_vectors"]),
            segments=int(raw["segments"]),
            healthy=bool(raw["healthy"]),
            detail=f"{raw['backend']} store at {raw['location']} {raw['detail']}".strip(),
            disk_bytes=raw.get("disk_bytes"),
            payload_indexes=tuple(raw.get("payload_indexes") or ()),
        )

    def optimize(self) -> None:
        """Optimise the service's collection (waits as long as that takes)."""
        self._call("POST", "/optimize", timeout=None)

    def close(self) -> None:
        """Close the connection pool. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
