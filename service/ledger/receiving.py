"""Storing each verified event once, then processing it once.

Two transactions, so a processing failure never loses the delivery: the first stores the
event (its Stripe id is unique, so a repeat delivery only bumps a counter); the second claims
the stored row with a compare-and-set UPDATE, applies the event and records the outcome. The
claim is that transaction's first statement, so on PostgreSQL a concurrent duplicate waits on the
row lock and then sees the event already processed, and on SQLite it waits for the single writer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ..fulfilment import flag_donation
from ..models import Donation, WebhookEvent, WebhookOutcome, utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .context import Ignore, LedgerContext, Quarantine, timestamp
from .dispatch import dispatch, handles
from .payments import insert_ignore
from .prefetch import PrefetchingGateway

log = logging.getLogger(__name__)
W = WebhookOutcome
# Outcomes a normal delivery may (re)process: never processed, or failed last time.
RETRYABLE = (W.RECEIVED, W.FAILED)
# What an operator's replay may reprocess: also what was set aside, once the cause is fixed.
REPLAYABLE = (W.RECEIVED, W.FAILED, W.QUARANTINED, W.IGNORED)


class MalformedEvent(Exception):
    """A verified body that is not a Stripe event (not UTF-8, not JSON, no id or type)."""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    outcome: str
    reason: str | None = None
    duplicate_delivery: bool = False
    event_type: str | None = None


def parse_event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvent("not_json") from None
    if not isinstance(event, dict):
        raise MalformedEvent("not_an_event")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise MalformedEvent("no_event_id")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise MalformedEvent("no_event_type")
    return event


def store_event(db: Session, event: dict[str, Any], payload: str, source: str = "webhook") -> bool:
    """Keep the event verbatim; True if it is new, False if it was already stored (a duplicate)."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    obj = data.get("object") if isinstance(data.get("object"), dict) else {}
    now = utcnow()
    inserted = insert_ignore(
        db,
        WebhookEvent,
        {
            "stripe_event_id": event["id"],
            "type": event["type"],
            "api_version": str(event.get("api_version") or "")[:64] or None,
            "livemode": bool(event.get("livemode")),
            "account": str(event["account"])[:255] if event.get("account") else None,
            "object_id": str(obj.get("id"))[:255] if obj.get("id") else None,
            "event_created_at": timestamp(event.get("created")),
            "received_at": now,
            "last_received_at": now,
            "delivery_count": 1,
            "source": source,
            "payload": payload,
            "outcome": W.RECEIVED,
            "needs_review": False,
            "process_attempts": 0,
        },
    )
    if not inserted and source == "webhook":
        db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.stripe_event_id == event["id"])
            .values(delivery_count=WebhookEvent.delivery_count + 1, last_received_at=now)
        )
    db.commit()
    return inserted


def process_event(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    stripe_event_id: str,
    *,
    allowed: tuple[str, ...] = RETRYABLE,
) -> Outcome:
    """Apply a stored event unless it already has an outcome outside ``allowed``."""
    with sessions() as db:
        stored = db.execute(
            select(WebhookEvent.outcome, WebhookEvent.payload).where(
                WebhookEvent.stripe_event_id == stripe_event_id
            )
        ).first()
    if stored is None or stored.outcome not in allowed:
        return Outcome(stripe_event_id, stored.outcome if stored else W.RECEIVED, duplicate_delivery=True)
    reader = None
    if gateway is not None:
        # Stripe is asked now, before the claim below takes the event's (and donation's) locks.
        reader = PrefetchingGateway(gateway)
        reader.warm(json.loads(stored.payload))
    with sessions() as db:
        claimed = db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.stripe_event_id == stripe_event_id, WebhookEvent.outcome.in_(allowed))
            .values(process_attempts=WebhookEvent.process_attempts + 1)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.rollback()
            current = db.scalar(
                select(WebhookEvent.outcome).where(WebhookEvent.stripe_event_id == stripe_event_id)
            )
            return Outcome(stripe_event_id, current or W.RECEIVED, duplicate_delivery=True)
        row = db.scalar(select(WebhookEvent).where(WebhookEvent.stripe_event_id == stripe_event_id))
        assert row is not None
        event = json.loads(row.payload)
        ctx = LedgerContext(db, reader, settings)
        try:
            applied = dispatch(ctx, event)
        except (Ignore, Quarantine) as exc:
            db.rollback()
            return _set_aside(sessions, stripe_event_id, exc, allowed)
        except Exception as exc:
            db.rollback()
            log.exception(
                "webhook_event_failed", extra={"stripe_event_id": stripe_event_id, "type": event.get("type")}
            )
            return _finish(sessions, stripe_event_id, W.FAILED, f"error: {type(exc).__name__}", allowed)
        outcome = W.PROCESSED if applied.changed else W.DUPLICATE
        reason = None if applied.changed else "already_applied"
        _record(db, stripe_event_id, outcome, reason, applied.donation_id)
        db.commit()
    log.info("webhook_event_applied", extra={"stripe_event_id": stripe_event_id, "outcome": outcome})
    return Outcome(stripe_event_id, outcome, reason)


def _record(
    db: Session,
    stripe_event_id: str,
    outcome: str,
    reason: str | None,
    donation_id: str | None,
    review: bool = False,
) -> None:
    values: dict[str, Any] = {
        "outcome": outcome,
        "outcome_reason": reason,
        "processed_at": utcnow(),
        "needs_review": review,
    }
    if donation_id and db.get(Donation, donation_id) is not None:
        values["donation_id"] = donation_id
    db.execute(update(WebhookEvent).where(WebhookEvent.stripe_event_id == stripe_event_id).values(**values))


def _set_aside(
    sessions: sessionmaker[Session], stripe_event_id: str, exc: Ignore | Quarantine, allowed: tuple[str, ...]
) -> Outcome:
    if isinstance(exc, Ignore):
        return _finish(sessions, stripe_event_id, W.IGNORED, exc.reason, allowed)
    return _finish(sessions, stripe_event_id, W.QUARANTINED, exc.reason, allowed, donation_id=exc.donation_id)


def _finish(
    sessions: sessionmaker[Session],
    stripe_event_id: str,
    outcome: str,
    reason: str,
    allowed: tuple[str, ...],
    donation_id: str | None = None,
) -> Outcome:
    """Record an outcome that applied nothing, unless another delivery got there first."""
    with sessions() as db:
        claimed = db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.stripe_event_id == stripe_event_id, WebhookEvent.outcome.in_(allowed))
            .values(process_attempts=WebhookEvent.process_attempts + 1)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.rollback()
            return Outcome(stripe_event_id, W.DUPLICATE, duplicate_delivery=True)
        quarantined = outcome == W.QUARANTINED
        _record(db, stripe_event_id, outcome, reason[:500], donation_id, review=quarantined)
        if quarantined and donation_id:
            flag_donation(db, donation_id, f"{reason} ({stripe_event_id})")
        db.commit()
    level = logging.WARNING if outcome in (W.QUARANTINED, W.FAILED) else logging.INFO
    log.log(level, "webhook_event_" + outcome, extra={"stripe_event_id": stripe_event_id, "reason": reason})
    return Outcome(stripe_event_id, outcome, reason)


def receive(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    payload: bytes,
    *,
    source: str = "webhook",
) -> Outcome:
    """Store and process one verified delivery. Raises MalformedEvent; database errors propagate."""
    event = parse_event(payload)
    with sessions() as db:
        new = store_event(db, event, payload.decode("utf-8"), source)
    if not new:
        log.info("webhook_duplicate_delivery", extra={"stripe_event_id": event["id"]})
    if not handles(event["type"]):
        # Acknowledged without a second transaction: nothing in it is for the ledger.
        ignored = _finish(sessions, event["id"], W.IGNORED, "event_type_not_used", RETRYABLE)
        return Outcome(ignored.event_id, W.IGNORED, ignored.reason, not new, event["type"])
    outcome = process_event(sessions, gateway, settings, event["id"])
    duplicate = not new or outcome.duplicate_delivery
    return Outcome(outcome.event_id, outcome.outcome, outcome.reason, duplicate, event["type"])
