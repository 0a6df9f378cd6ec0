"""Admin replay of one stored webhook event, through the ledger's own processing path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import NotFound
from ..ledger.receiving import REPLAYABLE, process_event
from ..models import WebhookEvent


def replay(sessions: sessionmaker[Session], gateway: Any, settings: Any, event_id: int) -> dict[str, Any]:
    """Reprocess a failed, quarantined, ignored or stuck event; processed ones are left as they were."""
    with sessions() as db:
        stripe_event_id = db.scalar(select(WebhookEvent.stripe_event_id).where(WebhookEvent.id == event_id))
    if stripe_event_id is None:
        raise NotFound("No such webhook event.")
    outcome = process_event(sessions, gateway, settings, stripe_event_id, allowed=REPLAYABLE)
    return {
        "id": event_id,
        "stripe_event_id": stripe_event_id,
        "outcome": outcome.outcome,
        "reason": outcome.reason,
        "replayed": not outcome.duplicate_delivery,
    }
