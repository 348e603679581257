"""freqtrade's own webhook, configured as docs/service.md says, feeding the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import httpx
import pytest
from freqtrade.enums import RPCMessageType
from freqtrade.rpc.webhook import Webhook

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.models import RunMode
from freqtrade_mem0.records import MarketContext, TradeFacts, trade_record
from tests.conftest import REPO
from tests.service_helpers import ADMIN_KEY, RunningService, fresh_client

OPEN = datetime(2024, 6, 27, 10, 0, 0, 123456, tzinfo=UTC)
CLOSE = datetime(2024, 6, 27, 12, 30, tzinfo=UTC)


def documented_webhook(url: str) -> dict[str, Any]:
    """The `webhook` section docs/service.md gives, pointed at `url`."""
    page = (REPO / "docs" / "service.md").read_text()
    block = page.split("<!-- freqtrade-webhook-config -->", 1)[1]
    block = block.split("```json", 1)[1].split("```", 1)[0]
    section = json.loads("{" + block + "}")["webhook"]
    section["url"] = url + "/webhook/freqtrade?api_key=" + ADMIN_KEY  # no headers: the key
    return section


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    with fresh_client(service) as http:
        yield http


@pytest.fixture
def webhook(service: RunningService) -> Webhook:
    """freqtrade's webhook handler, configured from the docs."""
    return Webhook(MagicMock(), {"webhook": documented_webhook(service.url)})


def exit_message(**changes: Any) -> dict[str, Any]:
    """An exit_fill message as freqtrade's `_notify_exit` builds it."""
    message: dict[str, Any] = {
        "type": RPCMessageType.EXIT_FILL,
        "trade_id": 7,
        "exchange": "Binance",
        "pair": "ETH/BTC",
        "leverage": 1.0,
        "direction": "Long",
        "gain": "profit",
        "limit": 0.052,
        "order_rate": 0.052,
        "order_type": "limit",
        "amount": 2.0,
        "open_rate": 0.05,
        "close_rate": 0.052,
        "current_rate": None,
        "profit_amount": 0.0039,
        "profit_ratio": 0.039,
        "buy_tag": None,
        "enter_tag": None,
        "exit_reason": "roi",
        "open_date": OPEN,
        "close_date": CLOSE,
        "stake_amount": 0.1,
        "stake_currency": "BTC",
        "base_currency": "ETH",
        "quote_currency": "BTC",
        "fiat_currency": None,
        "sub_trade": False,
        "cumulative_profit": 0.0039,
        "final_profit_ratio": 0.0385,
        "is_final_exit": True,
    }
    message.update(changes)
    return message


def stored(client: httpx.Client) -> list[dict[str, Any]]:
    return client.get("/search", params={"limit": 100}).json()["results"]


def test_exit_fill_becomes_the_trade_the_mixin_would_store(
    client: httpx.Client, webhook: Webhook
) -> None:
    webhook.send_msg(exit_message())  # type: ignore[arg-type]
    [memory] = stored(client)
    facts = TradeFacts(
        pair="ETH/BTC",
        is_short=False,
        open_date=OPEN,
        close_date=CLOSE,
        open_rate=0.05,
        close_rate=0.052,
        profit_ratio=0.0385,
        profit_abs=0.0039,
        stake_amount=0.1,
    )
    mixin = trade_record(
        facts, strategy="MyStrategy", mode=RunMode.DRY_RUN, run_id="dry_run:my-bot"
    )
    assert memory["id"] == mixin.id
    meta = memory["metadata"]
    assert (meta["kind"], meta["type"], meta["mode"]) == ("trade", "live", "dry_run")
    assert meta["metrics"]["profit"] == pytest.approx(3.85)
    assert meta["exit_reason"] == "roi"
    assert meta["exchange"] == "binance"
    assert meta["timestamp"].startswith("2024-06-27T12:30:00")
    assert "enter_tag" not in meta  # freqtrade sent "None"
    assert memory["messages"][0]["content"].startswith("ETH/BTC long closed +3.85% after 2h30m")


def test_a_repeated_message_is_one_memory(client: httpx.Client, webhook: Webhook) -> None:
    for _ in range(3):
        webhook.send_msg(exit_message())  # type: ignore[arg-type]
    assert len(stored(client)) == 1


def test_partial_exits_are_their_own_memories(client: httpx.Client, webhook: Webhook) -> None:
    later = datetime(2024, 6, 27, 11, 0, tzinfo=UTC)
    webhook.send_msg(  # type: ignore[arg-type]
        exit_message(sub_trade=True, is_final_exit=False, close_date=later, final_profit_ratio=None)
    )
    webhook.send_msg(exit_message(sub_trade=True))  # type: ignore[arg-type]
    texts = sorted(m["messages"][0]["content"] for m in stored(client))
    assert len(texts) == 2
    assert "partially exited" in texts[1]


def test_entry_fill_and_status_become_notes(client: httpx.Client, webhook: Webhook) -> None:
    entry = exit_message(type=RPCMessageType.ENTRY_FILL, enter_tag="breakout", direction="Short")
    webhook.send_msg(entry)  # type: ignore[arg-type]
    webhook.send_msg({"type": RPCMessageType.STATUS, "status": "running"})  # type: ignore[arg-type]
    notes = {m["metadata"]["tags"][0]: m for m in stored(client)}
    assert set(notes) == {"entry_fill", "status"}
    assert notes["entry_fill"]["metadata"]["side"] == "short"
    assert notes["entry_fill"]["metadata"]["enter_tag"] == "breakout"
    assert notes["status"]["messages"][0]["content"] == "my-bot (dry_run) status: running"


def test_the_mixin_copy_of_a_trade_is_kept(
    client: httpx.Client, webhook: Webhook, service: RunningService
) -> None:
    facts = TradeFacts("ETH/BTC", False, OPEN, CLOSE, 0.05, 0.052, 0.0385, 0.0039, 0.1)
    market = MarketContext(tuple(float(i) for i in range(10)), "quiet market", OPEN)
    mixin = trade_record(
        facts, strategy="MyStrategy", mode=RunMode.DRY_RUN, run_id="dry_run:my-bot", entry=market
    )
    settings = Settings(api_key=ADMIN_KEY)
    with Memory.open(service.url, settings=settings, embedder=HashingEmbedder()) as remote:
        remote.remember(mixin)
        answer = client.post(
            "/webhook/freqtrade", json=webhook_payload(webhook, exit_message())
        ).json()
        assert answer["stored"] is False
        assert answer["id"] == mixin.id
        assert remote.get(mixin.id).market == market.vector


def webhook_payload(webhook: Webhook, message: dict[str, Any]) -> dict[str, Any]:
    """The body freqtrade posts for a message."""
    body = webhook.recursive_format(webhook._get_value_dict(message), message)  # type: ignore[arg-type]
    assert isinstance(body, dict)
    return body


def test_other_events_are_acknowledged_and_not_stored(client: httpx.Client) -> None:
    answer = client.post("/webhook/freqtrade", json={"type": "exit", "strategy": "S"})
    assert answer.status_code == 200
    assert answer.json()["stored"] is False
    assert stored(client) == []


def test_missing_strategy_or_fields_are_named(client: httpx.Client, webhook: Webhook) -> None:
    body = webhook_payload(webhook, exit_message())
    del body["strategy"]
    answer = client.post("/webhook/freqtrade", json=body)
    assert answer.status_code == 422
    assert "strategy" in answer.json()["detail"]
    answer = client.post("/webhook/freqtrade", json={"type": "exit_fill", "strategy": "S"})
    assert answer.status_code == 422
    assert "pair, open_date, close_date, open_rate, profit_ratio" in answer.json()["detail"]
    assert stored(client) == []
