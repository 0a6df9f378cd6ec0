"""Storing each verified event once, then processing it once.

The event row is always written before anything is applied, and Stripe gets a 2xx only once the
outcome is committed. A first delivery of an event that needs nothing from Stripe (almost every
event, and every ``checkout.session.completed``) takes one transaction: the row is inserted first,
the event applied and its outcome recorded, and all of it commits together. Nothing is lost if
that fails: on an error in our code the work is rolled back and the event stored again with
its outcome (``failed``, ``quarantined``, ``ignored``) in transactions of its own; if the database
fails, nothing was stored and Stripe, told 503, delivers again.

A redelivery bumps the stored row's counter in the same single statement that would have
inserted it, and is answered from the stored outcome. Concurrent deliveries of one event wait on
the row's unique key (PostgreSQL) or on the single writer (SQLite), so only one applies it.

Events that need a read from Stripe first, events from ``sync-events``, and redeliveries of an
event not yet applied take two transactions, so no database lock is held while Stripe is asked:
the first stores the event (its Stripe id is unique, so a repeat delivery only bumps a counter);
the second claims the stored row with a compare-and-set UPDATE, applies the event and records
the outcome. The claim is that transaction's first statement, so on PostgreSQL a concurrent
duplicate waits on the row lock and then sees the event already processed, and on SQLite it
waits for the single writer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Update

from ..db import insert_ignore
from ..donations.models import Donation
from ..donations.states import flag_donation
from ..models import WebhookEvent, WebhookOutcome, utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .apply_context import Ignore, LedgerContext, Quarantine, Wait, timestamp
from .dispatch import dispatch, handles, version_note
from .prefetch import PrefetchingGateway, prefetch_call

log = logging.getLogger(__name__)
# Outcomes a normal delivery (or sync-events) may (re)process: never processed, failed last
# time, or waiting for its payment.
RETRYABLE = (WebhookOutcome.RECEIVED, WebhookOutcome.FAILED, WebhookOutcome.WAITING)
# What an operator's replay may reprocess: also what was set aside, once the cause is fixed.
REPLAYABLE = (
    WebhookOutcome.RECEIVED,
    WebhookOutcome.FAILED,
    WebhookOutcome.QUARANTINED,
    WebhookOutcome.IGNORED,
    WebhookOutcome.WAITING,
)
# Events whose processing may record the payment a waiting event needs: a completed Checkout
# Session records it too (a surge Payment Link's charge names no donation, so its charge events
# wait for the session).
UNBLOCKING = frozenset({
    "invoice.paid", "charge.succeeded", "charge.updated", "charge.refunded",
    "checkout.session.completed", "checkout.session.async_payment_succeeded",
})  # fmt: skip
WAITING_BATCH = 100
_events = WebhookEvent.__table__
# Statements built once: per event, building and caching ORM statements cost more CPU than the
# database's work on them. The SET columns of an UPDATE are the keys of the parameters given.
_SET_BY_EVENT_ID = _events.update().where(_events.c.stripe_event_id == bindparam("b_event"))
_REDELIVERED = _SET_BY_EVENT_ID.values(
    delivery_count=_events.c.delivery_count + 1, last_received_at=bindparam("now")
)
_STORED = select(_events.c.outcome, _events.c.payload).where(
    _events.c.stripe_event_id == bindparam("b_event")
)


@cache
def _claim(allowed: tuple[str, ...]) -> Update:
    """Take the event for processing if its outcome allows it (compare-and-set, row lock on PostgreSQL)."""
    return (
        _events.update()
        .where(_events.c.stripe_event_id == bindparam("b_event"), _events.c.outcome.in_(allowed))
        .values(process_attempts=_events.c.process_attempts + 1)
    )


@cache
def _deliver(dialect: str) -> Any:
    """INSERT the event, or on its second delivery bump the counter; RETURNING tells which happened."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_events)
    return stmt.on_conflict_do_update(
        index_elements=[_events.c.stripe_event_id],
        set_={
            "delivery_count": _events.c.delivery_count + 1,
            "last_received_at": stmt.excluded.last_received_at,
        },
    ).returning(_events.c.outcome, _events.c.delivery_count)


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
    return _parse(_decode(payload))


def _decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEvent("not_json") from None


def _parse(text: str) -> dict[str, Any]:
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise MalformedEvent("not_json") from None
    if not isinstance(event, dict):
        raise MalformedEvent("not_an_event")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise MalformedEvent("no_event_id")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise MalformedEvent("no_event_type")
    return event


def _row(event: dict[str, Any], payload: str, source: str) -> dict[str, Any]:
    """The new row for ``event``, outcome ``received``."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    obj = data.get("object") if isinstance(data.get("object"), dict) else {}
    now = utcnow()
    return {
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
        "outcome": WebhookOutcome.RECEIVED,
        "needs_review": False,
        "process_attempts": 0,
    }


def store_event(db: Session, event: dict[str, Any], payload: str, source: str = "webhook") -> bool:
    """Keep the event verbatim; True if it is new, False if it was already stored (a duplicate)."""
    row = _row(event, payload, source)
    inserted = insert_ignore(db, WebhookEvent, row)
    if not inserted and source == "webhook":
        db.connection().execute(_REDELIVERED, {"b_event": event["id"], "now": row["last_received_at"]})
    db.commit()
    return inserted


def process_event(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    stripe_event_id: str,
    *,
    allowed: tuple[str, ...] = RETRYABLE,
    event: dict[str, Any] | None = None,
) -> Outcome:
    """Apply a stored event unless it already has an outcome outside ``allowed``.

    ``event`` is the parsed event when the caller has it and has just stored it as ``received``;
    then the stored row is neither read back nor parsed again.
    """
    if event is None:
        with sessions() as db:
            stored = db.connection().execute(_STORED, {"b_event": stripe_event_id}).first()
        if stored is None or stored.outcome not in allowed:
            outcome = stored.outcome if stored else WebhookOutcome.RECEIVED
            return Outcome(stripe_event_id, outcome, duplicate_delivery=True)
        event = json.loads(stored.payload)
    reader = None
    if gateway is not None:
        # Stripe is asked now, before the claim below takes the event's (and donation's) locks.
        reader = PrefetchingGateway(gateway)
        reader.warm(event)
    with sessions() as db:
        claimed = db.connection().execute(_claim(allowed), {"b_event": stripe_event_id})
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.rollback()
            current = db.scalar(
                select(WebhookEvent.outcome).where(WebhookEvent.stripe_event_id == stripe_event_id)
            )
            return Outcome(stripe_event_id, current or WebhookOutcome.RECEIVED, duplicate_delivery=True)
        try:
            outcome = _apply(db, LedgerContext(db, reader, settings), event)
        except (Ignore, Quarantine, Wait) as exc:
            db.rollback()
            return _set_aside(sessions, stripe_event_id, exc, allowed)
        except Exception as exc:
            db.rollback()
            return _failed(sessions, event, exc, allowed)
    return outcome


def _apply(db: Session, ctx: LedgerContext, event: dict[str, Any]) -> Outcome:
    """Apply a claimed event and record its outcome; commits. Raises what dispatch raises."""
    applied = dispatch(ctx, event)
    outcome = WebhookOutcome.PROCESSED if applied.changed else WebhookOutcome.DUPLICATE
    reason = None if applied.changed else "already_applied"
    # An event at another API version is applied but shown to finance (needs_review) when its
    # shape may differ from what the ledger reads.
    note = version_note(event)
    # The apply functions return only a donation they found (and locked) in this transaction.
    _record(
        db, event["id"], outcome, note or reason, applied.donation_id, note is not None, known_donation=True
    )
    db.commit()
    # DEBUG: over HTTP the request's access line carries the event id and outcome (views.py).
    log.debug("webhook_event_applied", extra={"stripe_event_id": event["id"], "outcome": outcome})
    return Outcome(event["id"], outcome, reason, event_type=event["type"])


def _failed(
    sessions: sessionmaker[Session], event: dict[str, Any], exc: Exception, allowed: tuple[str, ...]
) -> Outcome:
    log.error(
        "webhook_event_failed",
        exc_info=exc,
        extra={"stripe_event_id": event["id"], "type": event.get("type")},
    )
    return _finish(sessions, event["id"], WebhookOutcome.FAILED, f"error: {type(exc).__name__}", allowed)


def _record(
    db: Session,
    stripe_event_id: str,
    outcome: str,
    reason: str | None,
    donation_id: str | None,
    review: bool = False,
    *,
    known_donation: bool = False,
) -> None:
    values: dict[str, Any] = {
        "b_event": stripe_event_id,
        "outcome": outcome,
        "outcome_reason": reason,
        "processed_at": utcnow(),
        "needs_review": review,
    }
    if donation_id and (known_donation or db.get(Donation, donation_id) is not None):
        values["donation_id"] = donation_id
    db.connection().execute(_SET_BY_EVENT_ID, values)


def _set_aside(
    sessions: sessionmaker[Session],
    stripe_event_id: str,
    exc: Ignore | Quarantine | Wait,
    allowed: tuple[str, ...],
) -> Outcome:
    if isinstance(exc, Wait):
        return _finish(sessions, stripe_event_id, WebhookOutcome.WAITING, exc.reason, allowed)
    if isinstance(exc, Ignore):
        return _finish(sessions, stripe_event_id, WebhookOutcome.IGNORED, exc.reason, allowed)
    return _finish(
        sessions,
        stripe_event_id,
        WebhookOutcome.QUARANTINED,
        exc.reason,
        allowed,
        donation_id=exc.donation_id,
    )


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
        claimed = db.connection().execute(_claim(allowed), {"b_event": stripe_event_id})
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.rollback()
            return Outcome(stripe_event_id, WebhookOutcome.DUPLICATE, duplicate_delivery=True)
        quarantined = outcome == WebhookOutcome.QUARANTINED
        _record(db, stripe_event_id, outcome, reason[:500], donation_id, review=quarantined)
        if quarantined and donation_id:
            flag_donation(db, donation_id, f"{reason} ({stripe_event_id})")
        db.commit()
    level = (
        logging.WARNING if outcome in (WebhookOutcome.QUARANTINED, WebhookOutcome.FAILED) else logging.INFO
    )
    # A waiting event is expected (the payment's own event is usually seconds behind).
    log.log(level, "webhook_event_" + outcome, extra={"stripe_event_id": stripe_event_id, "reason": reason})
    return Outcome(stripe_event_id, outcome, reason)


class _Redelivered:
    """The event was stored before and may still need processing (stored ``received`` or ``failed``)."""


@dataclass(frozen=True)
class _RolledBack:
    """Applying raised; nothing of this delivery is stored yet."""

    error: Exception


def _store_and_apply(
    db: Session, gateway: StripeGateway | None, settings: Settings, event: dict[str, Any], payload: str
) -> Outcome | _Redelivered | _RolledBack:
    """One transaction: insert the event (or count a redelivery), apply it, record the outcome."""
    row = _row(event, payload, "webhook")
    handled = handles(event["type"])
    if not handled:
        # Acknowledged and stored as ignored at once: nothing in it is for the ledger.
        row.update(
            outcome=WebhookOutcome.IGNORED,
            outcome_reason="event_type_not_used",
            processed_at=row["received_at"],
        )
    row["process_attempts"] = 1
    stored = db.connection().execute(_deliver(db.get_bind().dialect.name), row).one()
    if stored.delivery_count > 1:
        db.commit()
        log.info("webhook_duplicate_delivery", extra={"stripe_event_id": event["id"]})
        if stored.outcome in RETRYABLE:
            return _Redelivered()
        return Outcome(event["id"], stored.outcome, None, True, event["type"])
    if not handled:
        db.commit()
        log.info(
            "webhook_event_ignored", extra={"stripe_event_id": event["id"], "reason": "event_type_not_used"}
        )
        return Outcome(event["id"], WebhookOutcome.IGNORED, "event_type_not_used", False, event["type"])
    try:
        return _apply(db, LedgerContext(db, gateway, settings), event)
    except Exception as exc:
        # Rolled back with the event row itself; the caller stores it again, with this outcome.
        db.rollback()
        return _RolledBack(exc)


def apply_waiting(sessions: sessionmaker[Session], gateway: StripeGateway | None, settings: Settings) -> int:
    """Try every event that was waiting for its payment again; returns how many were applied.

    Called after an event that may have recorded a payment, and by sync-events. Waiting events
    are few and short-lived (the payment's own event is usually seconds behind), so one indexed
    query finds them; one that still cannot be applied simply stays ``waiting``.
    """
    with sessions() as db:
        waiting = list(
            db.scalars(
                select(WebhookEvent.stripe_event_id)
                .where(WebhookEvent.outcome == WebhookOutcome.WAITING)
                .order_by(WebhookEvent.event_created_at, WebhookEvent.id)
                .limit(WAITING_BATCH)
            )
        )
    applied = 0
    for stripe_event_id in waiting:
        outcome = process_event(
            sessions, gateway, settings, stripe_event_id, allowed=(WebhookOutcome.WAITING,)
        )
        applied += outcome.outcome in (WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE)
    return applied


def receive(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    payload: bytes,
    *,
    source: str = "webhook",
) -> Outcome:
    """Store and process one verified delivery. Raises MalformedEvent; database errors propagate.

    An event that recorded a payment is followed by another try of the events waiting for one.
    """
    outcome = _receive(sessions, gateway, settings, payload, source=source)
    if outcome.outcome == WebhookOutcome.PROCESSED and outcome.event_type in UNBLOCKING:
        apply_waiting(sessions, gateway, settings)
    return outcome


def _receive(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    payload: bytes,
    *,
    source: str = "webhook",
) -> Outcome:
    text = _decode(payload)
    event = _parse(text)
    event_id, event_type = event["id"], event["type"]
    stored_now = False
    if source == "webhook" and (gateway is None or prefetch_call(event) is None):
        with sessions() as db:
            result = _store_and_apply(db, gateway, settings, event, text)
        if isinstance(result, Outcome):
            return result
        if isinstance(result, _RolledBack):
            with sessions() as db:
                new = store_event(db, event, text, source)
            error = result.error
            if isinstance(error, Ignore | Quarantine | Wait):
                outcome = _set_aside(sessions, event_id, error, RETRYABLE)
            else:
                outcome = _failed(sessions, event, error, RETRYABLE)
            duplicate = not new or outcome.duplicate_delivery
            return Outcome(outcome.event_id, outcome.outcome, outcome.reason, duplicate, event_type)
        new = False
    else:
        with sessions() as db:
            new = stored_now = store_event(db, event, text, source)
        if not new:
            log.info("webhook_duplicate_delivery", extra={"stripe_event_id": event_id})
    if not handles(event_type):
        ignored = _finish(sessions, event_id, WebhookOutcome.IGNORED, "event_type_not_used", RETRYABLE)
        return Outcome(ignored.event_id, WebhookOutcome.IGNORED, ignored.reason, not new, event_type)
    # An event this call has just stored is still `received`: no need to read it back.
    outcome = process_event(sessions, gateway, settings, event_id, event=event if stored_now else None)
    duplicate = not new or outcome.duplicate_delivery
    return Outcome(outcome.event_id, outcome.outcome, outcome.reason, duplicate, event_type)
