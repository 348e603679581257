"""Strategy-limited credentials: a key for `MyStrategy` sees and writes only `MyStrategy`'s
memories, in searches, exports, statistics, reads by id, deletes, cleanups and the store
protocol, over real HTTP and through an `HttpStore` as a bot uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import PermissionDeniedError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service import create_app
from tests.factories import trade
from tests.security_helpers import LIMITED_TO, Credentials, make_keys
from tests.service_helpers import ADMIN_HEADERS, note, running, service_settings


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Credentials]]:
    root = tmp_path_factory.mktemp("scope")
    made = make_keys(root / "keys.json")
    with running(create_app(service_settings(root))) as url:
        yield url, made


@pytest.fixture
def ids(service: tuple[str, Credentials]) -> dict[str, str]:
    with httpx.Client(base_url=service[0], headers=ADMIN_HEADERS) as admin:
        admin.post("/v1/store/delete-where", json={}).raise_for_status()
        memories = [
            note("mine: quiet market", strategy=LIMITED_TO, key="mine"),
            note("other: volume spike", strategy="Other", key="other", type="live"),
        ]
        stored = admin.post("/memory/batch", json={"memories": memories}).json()["memories"]
    return {"mine": stored[0]["id"], "other": stored[1]["id"]}


def client(service: tuple[str, Credentials], who: str) -> httpx.Client:
    url, made = service
    return httpx.Client(base_url=url, headers=made.headers(who))


def test_reads_see_only_the_strategy(service: tuple[str, Credentials], ids: dict[str, str]) -> None:
    with client(service, "limited-reader") as http:
        found = http.get("/search").json()["results"]
        assert [m["id"] for m in found] == [ids["mine"]]
        assert [
            m["id"]
            for m in http.get("/search", params={"query": "strategy:Other"}).json()["results"]
        ] == []
        assert (
            http.get("/search", params={"query": "volume spike"}).json()["results"][0]["id"]
            == ids["mine"]
        )  # free text too: the only memory it may see
        exported = [json.loads(line) for line in http.get("/export").text.splitlines()]
        assert [m["id"] for m in exported] == [ids["mine"]]
        stats = http.get("/stats").json()
        assert (stats["total"], stats["by_strategy"], stats["points"]) == (1, {LIMITED_TO: 1}, 1)
        assert http.get(f"/memory/{ids['mine']}").status_code == 200
        assert http.get(f"/memory/{ids['other']}").status_code == 404  # as if it did not exist
        assert http.post("/v1/store/count", json={}).json() == {"count": 1}
        assert http.post("/v1/store/facet", json={"key": "type"}).json()["counts"] == {
            "backtest": 1
        }
        assert http.get("/v1/store/status").json()["points"] == 1


def test_writes_only_for_the_strategy(
    service: tuple[str, Credentials], ids: dict[str, str]
) -> None:
    with client(service, "limited-writer") as http:
        assert http.post("/memory", json=note("mine too", strategy=LIMITED_TO)).status_code == 201
        refused = http.post("/memory", json=note("not mine", strategy="Other"))
        assert refused.status_code == 403
        assert "outside this credential's scope" in refused.json()["detail"]
        # Over another strategy's memory (same key, so same id): refused, nothing changes.
        hijack = http.post("/memory", json=note("taken", strategy=LIMITED_TO, key="other"))
        assert hijack.status_code == 403
        batch = [note("a", strategy=LIMITED_TO), note("b", strategy="Other")]
        assert http.post("/memory/batch", json={"memories": batch}).status_code == 403
        lines = json.dumps(note("c", strategy="Other")) + "\n"
        assert http.post("/import", content=lines).status_code == 403
    with httpx.Client(base_url=service[0], headers=ADMIN_HEADERS) as admin:
        stats = admin.get("/stats").json()
        assert stats["by_strategy"] == {LIMITED_TO: 2, "Other": 1}
        assert admin.get(f"/memory/{ids['other']}").json()["metadata"]["strategy"] == "Other"


def test_deletes_only_within_the_strategy(
    service: tuple[str, Credentials], ids: dict[str, str]
) -> None:
    with client(service, "limited-admin") as http:
        assert http.delete(f"/memory/{ids['other']}").status_code == 404
        cleaned = http.delete("/cleanup", params={"older_than": "1d"}).json()
        assert (cleaned["removed"], cleaned["by_strategy"]) == (1, {LIMITED_TO: 1})
        http.post("/v1/store/delete-where", json={}).raise_for_status()  # "everything": its own
        assert http.post("/backup").status_code == 403  # the whole store: not for it
    with httpx.Client(base_url=service[0], headers=ADMIN_HEADERS) as admin:
        assert admin.get("/stats").json()["by_strategy"] == {"Other": 1}


def test_a_bot_with_a_limited_key_through_the_store_protocol(
    service: tuple[str, Credentials], ids: dict[str, str]
) -> None:
    url, made = service
    settings = Settings(api_key=made.keys["limited-writer"])
    with Memory.open(url, settings=settings, embedder=HashingEmbedder()) as bot:
        bot.remember(trade(1, strategy=LIMITED_TO))
        with pytest.raises(PermissionDeniedError, match="outside"):
            bot.remember(trade(2, strategy="Other"))
        assert {r.strategy for r in bot.iterate()} == {LIMITED_TO}
        assert bot.count() == 2
        assert bot.stats()["by_strategy"] == {LIMITED_TO: 2}
