"""The service answers mem0ai's own `MemoryClient`: the installed client, unchanged, against a
real server on a loopback port, authenticated with this service's API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mem0 import MemoryClient
from mem0.exceptions import AuthenticationError as Mem0AuthenticationError
from mem0.exceptions import MemoryNotFoundError
from mem0.exceptions import ValidationError as Mem0ValidationError

from freqtrade_mem0.errors import QuerySyntaxError
from freqtrade_mem0.security.keys import KeyFile
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service import mem0_platform as platform
from tests.service_helpers import ADMIN_KEY, running, service_settings

SPIKE = "BTC/USDT long after a volume spike: stopped out, -2.1%"
CALM = "ETH/USDT long in a calm uptrend: took profit, +1.4%"


def message(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A service; yields its URL and keys: admin, a reader, a writer limited to MyStrategy."""
    root = tmp_path_factory.mktemp("mem0-platform")
    settings = service_settings(root)
    keys = KeyFile(settings.keys_file)
    made = {"admin": ADMIN_KEY}
    made["reader"] = keys.create("dashboard", "reader")[1]
    made["bot"] = keys.create("bot", "writer", ["MyStrategy"])[1]
    with running(create_app(settings)) as url:
        yield url, made


@pytest.fixture
def client(service: tuple[str, dict[str, str]]) -> Iterator[MemoryClient]:
    url, keys = service
    mem0 = MemoryClient(api_key=keys["admin"], host=url)
    httpx.post(
        url + "/v1/store/delete-where", json={"where": ""}, headers={"X-API-Key": keys["admin"]}
    ).raise_for_status()
    yield mem0
    mem0.client.close()


def add(client: MemoryClient, text: str, **kwargs: Any) -> str:
    answer = client.add(message(text), **kwargs)
    assert answer["results"][0]["event"] == "ADD", answer
    return str(answer["results"][0]["id"])


def test_add_get_search_update_history_delete(client: MemoryClient) -> None:
    spike = add(
        client,
        SPIKE,
        agent_id="MyStrategy",
        user_id="alice",
        run_id="dry-1",
        timestamp=1_719_480_000,
        metadata={"type": "live", "pair": "BTC/USDT", "metrics": {"profit": -2.1}, "note": "x"},
    )
    calm = add(client, CALM, agent_id="MyStrategy", user_id="alice", metadata={"pair": "ETH/USDT"})
    add(client, "Other strategy: a sideways week", agent_id="Other", user_id="bob")

    again = client.add(
        message(SPIKE),
        agent_id="MyStrategy",
        user_id="alice",
        run_id="dry-1",
        timestamp=1_719_480_000,
        metadata={"type": "live", "pair": "BTC/USDT", "metrics": {"profit": -2.1}, "note": "x"},
    )
    assert again["results"][0] == {"id": spike, "memory": SPIKE, "event": "NONE"}

    got = client.get(spike)
    assert (got["memory"], got["agent_id"], got["user_id"], got["run_id"]) == (
        SPIKE,
        "MyStrategy",
        "alice",
        "dry-1",
    )
    assert got["metadata"]["pair"] == "BTC/USDT" and got["metadata"]["note"] == "x"
    assert got["metadata"]["timestamp"].startswith("2024-06-27T09:20:00")

    hits = client.search("losing trade after a spike in volume", filters={"agent_id": "MyStrategy"})
    assert [h["id"] for h in hits["results"]][:2] == [spike, calm]
    assert all(h["agent_id"] == "MyStrategy" for h in hits["results"])
    assert hits["results"][0]["score"] > hits["results"][1]["score"]

    changed = client.update(spike, text=SPIKE + " Re-entered later.", metadata={"reviewed": True})
    assert changed["id"] == spike and changed["metadata"]["reviewed"] is True
    assert client.get(spike)["memory"].endswith("Re-entered later.")
    events = client.history(spike)
    assert [(e["event"], e["old_memory"], e["new_memory"]) for e in events] == [
        ("ADD", None, SPIKE),
        ("UPDATE", SPIKE, SPIKE + " Re-entered later."),
    ]

    assert client.delete(spike)["message"]
    with pytest.raises(MemoryNotFoundError):
        client.get(spike)


def test_get_all_filters_and_pages(client: MemoryClient) -> None:
    for i in range(5):
        add(
            client,
            f"MyStrategy trade {i}",
            agent_id="MyStrategy",
            user_id="alice",
            metadata={"metrics": {"profit": i - 2.0}},
        )
    add(client, "Other trade", agent_id="Other", user_id="bob")

    everything = client.get_all()
    assert everything["count"] == 6
    assert client.get_all(filters={"user_id": "bob"})["count"] == 1
    losing = client.get_all(filters={"AND": [{"agent_id": "MyStrategy"}, {"profit": {"lt": 0}}]})
    assert sorted(m["memory"] for m in losing["results"]) == [
        "MyStrategy trade 0",
        "MyStrategy trade 1",
    ]
    not_alice = client.get_all(filters={"NOT": [{"user_id": "alice"}]})
    assert [m["memory"] for m in not_alice["results"]] == ["Other trade"]
    either = client.get_all(filters={"agent_id": {"in": ["Other", "Nobody"]}})
    assert either["count"] == 1

    first = client.get_all(page=1, page_size=4)
    second = client.get_all(page=2, page_size=4)
    assert (len(first["results"]), len(second["results"])) == (4, 2)
    assert first["next"] and second["next"] is None and second["previous"]
    ids = [m["id"] for m in first["results"] + second["results"]]
    assert len(set(ids)) == 6

    assert client.delete_all(agent_id="Other")["deleted"] == 1
    assert client.get_all()["count"] == 5


def test_bad_requests_say_what_to_fix(client: MemoryClient) -> None:
    with pytest.raises(Mem0ValidationError, match="unknown field"):
        client.get_all(filters={"colour": "red"})
    with pytest.raises(Mem0ValidationError, match="unknown operator 'like'"):
        client.get_all(filters={"pair": {"like": "BTC"}})
    with pytest.raises(Mem0ValidationError, match="agent_id: name the strategy"):
        client.add(message("whose is this?"), user_id="alice")
    with pytest.raises(Mem0ValidationError, match="runs no LLM"):
        client.add(message("extract facts"), agent_id="MyStrategy", infer=True)
    with pytest.raises(Mem0ValidationError, match="delete_all needs"):
        client.delete_all()


def test_keys_and_roles_apply(client: MemoryClient, service: tuple[str, dict[str, str]]) -> None:
    url, keys = service
    add(client, "Other strategy's secret", agent_id="Other")
    with pytest.raises(ValueError, match="malformed API key"):
        MemoryClient(api_key="not-a-key", host=url)

    reader = MemoryClient(api_key=keys["reader"], host=url)
    assert reader.get_all()["count"] == 1
    with pytest.raises(Mem0AuthenticationError, match="reader role may not write"):
        reader.add(message("a reader writes"), agent_id="MyStrategy")

    bot = MemoryClient(api_key=keys["bot"], host=url)
    mine = bot.add(message("the bot's own note"))["results"][0]["id"]  # its one strategy
    assert bot.get(mine)["agent_id"] == "MyStrategy"
    assert [m["memory"] for m in bot.get_all()["results"]] == ["the bot's own note"]
    with pytest.raises(Mem0AuthenticationError):
        bot.add(message("into another strategy"), agent_id="Other")
    with pytest.raises(Mem0AuthenticationError):
        bot.delete_all(agent_id="MyStrategy")  # cleanup is for admins


def test_filters_translate_to_the_query_language() -> None:
    node = platform.to_query(
        {"OR": [{"user_id": "alice"}, {"AND": [{"pair": "BTC/USDT"}, {"win_rate": {"gte": 0.5}}]}]}
    )
    assert node is not None
    assert platform.to_query({"agent_id": "*"}) is None  # Mem0's wildcard filters nothing
    with pytest.raises(QuerySyntaxError, match="contains works on tags only"):
        platform.to_query({"pair": {"contains": "BTC"}})
    with pytest.raises(QuerySyntaxError, match="needs a numeric or datetime field"):
        platform.to_query({"pair": {"gt": "A"}})
    with pytest.raises(QuerySyntaxError, match="takes a non-empty list"):
        platform.to_query({"AND": []})


def test_timestamps_and_paths(tmp_path: Path) -> None:
    record = platform.record_from_add(
        {"messages": message("note"), "agent_id": "S", "timestamp": 0}, None
    )
    assert record.timestamp.isoformat() == "1970-01-01T00:00:00+00:00"
    assert record.type.value == "analysis"


def test_an_update_reads_metadata_as_the_wire_format_does() -> None:
    record = platform.record_from_add({"messages": message("note"), "agent_id": "S"}, None)
    changed = platform.updated(record, {"metadata": {"pair": "ETH/BTC", "text": "an aside"}})
    assert (changed.id, changed.text, changed.pair) == (record.id, "note", "ETH/BTC")
    assert changed.data["text"] == "an aside"  # not the memory's text: free-form data
