"""`/webhook/freqtrade`: freqtrade's own webhook messages, so a bot without the mixin still
feeds memories (see `freqtrade_mem0.service.freqtrade_webhook`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from freqtrade_mem0.models import MemoryKind, MemoryPublic
from freqtrade_mem0.service.deps import MemoryDep, StateDep
from freqtrade_mem0.service.errors import COMMON_ERRORS
from freqtrade_mem0.service.freqtrade_webhook import STORED_EVENTS, FreqtradeWebhook, to_record

router = APIRouter(tags=["webhooks"], responses=COMMON_ERRORS)


class WebhookResult(BaseModel):
    """Whether the message became a memory, and if not, why."""

    stored: bool
    event: str
    id: str | None = None
    reason: str | None = None
    memory: MemoryPublic | None = None


@router.post("/webhook/freqtrade", response_model=WebhookResult, summary="freqtrade webhook")
def freqtrade_webhook(
    message: FreqtradeWebhook, memory: MemoryDep, state: StateDep
) -> WebhookResult:
    """Store `entry_fill`, `exit_fill` and `status` messages of freqtrade's webhook
    (`"format": "json"`); other event types are acknowledged and ignored. A trade the mixin
    already stored is left as it is (the mixin's copy also has the market fingerprint)."""
    record = to_record(message)
    if record is None:
        reason = f"{message.type!r} events are not stored (only {', '.join(STORED_EVENTS)})"
        return WebhookResult(stored=False, event=message.type, reason=reason)
    if record.kind is MemoryKind.TRADE and memory.store.retrieve([record.id]):
        return WebhookResult(
            stored=False, event=message.type, id=record.id, reason="this trade is already stored"
        )
    state.remember(memory, [record], "webhook")
    return WebhookResult(stored=True, event=message.type, id=record.id, memory=record.to_public())
