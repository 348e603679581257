"""Outbound events to n8n and the controller: real receivers on loopback ports."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freqtrade_mem0.query import parse
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service.notify import Notifier
from tests.factories import trade, wire
from tests.service_helpers import Receiver, admin_client, receiver, running, service_settings


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with receiver() as n8n, receiver() as controller:
        yield n8n, controller


@pytest.fixture(scope="module")
def service_url(
    receivers: tuple[Receiver, Receiver], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    n8n, controller = receivers
    settings = service_settings(
        tmp_path_factory.mktemp("notify"),
        n8n_webhook_url=n8n.url + "/webhook/mem0",
        controller_url=controller.url,
        notify_filter="type:backtest",
        notify_backoff_seconds=0.05,
        notify_retries=3,
    )
    with running(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(service_url: str, receivers: tuple[Receiver, Receiver]) -> Iterator[httpx.Client]:
    for target in receivers:
        with target.lock:
            target.received.clear()
            target.headers.clear()
            target.attempts = 0
            target.fail_first = 0
    with admin_client(service_url, timeout=30) as http:
        http.post("/v1/store/delete-where", json={"where": ""}).raise_for_status()
        yield http


def test_new_memories_reach_n8n_and_the_controller(
    client: httpx.Client, receivers: tuple[Receiver, Receiver]
) -> None:
    n8n, controller = receivers
    memory = client.post("/memory", json=wire()).json()
    [to_n8n] = n8n.wait_for(1)
    [to_controller] = controller.wait_for(1)
    assert to_n8n["path"] == "/webhook/mem0"
    assert to_controller["path"] == "/api/v1/notify"
    for event in (to_n8n["body"], to_controller["body"]):
        assert event["type"] == "backtest"
        assert event["event"] == "memory.created"
        assert event["data"] == {k: v for k, v in memory.items() if k != "score"}


def test_failed_deliveries_are_retried_with_one_idempotency_key(
    client: httpx.Client, receivers: tuple[Receiver, Receiver]
) -> None:
    n8n, _ = receivers
    n8n.fail_first = 2
    before = client.get("/status").json()["notify"]["n8n"]
    client.post("/memory", json=wire())
    n8n.wait_for(1)
    assert n8n.attempts == 3
    after = client.get("/status").json()["notify"]["n8n"]
    assert after["delivered"] - before["delivered"] == 1
    assert after["retries"] - before["retries"] == 2
    assert len({h["Idempotency-Key"] for h in n8n.headers}) == 1


def test_only_new_memories_the_filter_selects_are_announced(
    client: httpx.Client, receivers: tuple[Receiver, Receiver]
) -> None:
    n8n, _ = receivers
    client.post("/memory", json=wire(type="live"))  # not selected by type:backtest
    client.post("/memory", json=wire())
    client.post("/memory", json=wire())  # replaces: not new
    client.post("/import", content=client.get("/export").text)  # bulk: never announced
    time.sleep(0.3)
    assert [e["body"]["type"] for e in n8n.wait_for(1)] == ["backtest"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_target_never_slows_a_request(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = service_settings(
        tmp_path,
        controller_url=dead,
        notify_retries=2,
        notify_backoff_seconds=0.5,
        notify_timeout_seconds=0.5,  # also how long shutdown waits for deliveries
    )
    with running(create_app(settings)) as url, admin_client(url) as http:
        started = time.perf_counter()
        for i in range(5):
            assert http.post("/memory", json=wire(key=f"k{i}")).status_code == 201
        assert time.perf_counter() - started < 2.0  # 5 x 3 attempts with back-off would be 7 s+
        assert http.get("/status").json()["pending_deliveries"] >= 1


def test_a_full_queue_drops_new_events_and_counts_them() -> None:
    notifier = Notifier({"controller": f"http://127.0.0.1:{free_port()}"}, queue_size=2)
    assert notifier.publish([trade(i) for i in range(5)]) == 5  # not started: nothing drains
    status = notifier.status()["controller"]
    assert (status["pending"], status["dropped"]) == (2, 3)


def test_a_refusing_target_is_not_retried() -> None:
    with receiver(status=400) as target:
        notifier = Notifier({"n8n": target.url}, retries=5, backoff=0.01)
        notifier.start()
        notifier.publish([trade(1)])
        deadline = time.monotonic() + 5
        while notifier.status()["n8n"]["failed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        notifier.stop()
        assert target.attempts == 1
        assert notifier.status()["n8n"]["failed"] == 1


def test_the_filter_is_a_query() -> None:
    notifier = Notifier({"n8n": "http://127.0.0.1:9"}, where=parse("pair:ETH/BTC").where)
    assert notifier.publish([trade(0), trade(1), trade(2)]) == 1
