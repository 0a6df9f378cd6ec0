"""Storing each verified event once, then applying it once, on the job queue.

A delivery is stored and acknowledged: :func:`receive` writes the event row as ``received`` in one
statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: a redelivery only bumps the
counter), commits, and hands the event id to the job library. Stripe asks for exactly this: "Your
endpoint must quickly return a successful status code (2xx) before any complex logic that could
cause a timeout", and "Configure your handler to process incoming events with an asynchronous
queue" (https://docs.stripe.com/webhooks, "Best practices": "Quickly return a 2xx response",
"Handle events asynchronously"). The stored ``received`` row is the outbox: if the hand-over is
lost (Redis down, a crash between commit and enqueue) the row is still there, and
:func:`apply_due` applies it a little later.

The job (``service/jobs.py: apply_event``) runs :func:`apply_stored`: the event is claimed with a
compare-and-set UPDATE, applied and its outcome recorded in one transaction; a failure is rolled
back and recorded as ``failed`` in a transaction of its own, and :func:`apply_due` retries it with
back-off up to :data:`MAX_APPLY_ATTEMPTS`, then leaves it ``failed`` with ``needs_review`` for
an operator. Stripe no longer retries our own failures (it was told 2xx), so that retry is ours.
In immediate mode (no Redis: the demo, most tests) Huey runs the job in-process during the
hand-over, so the answer can report the applied outcome; it is the same path.

Concurrent deliveries or jobs for one event are safe: the claim is the apply transaction's first
statement, so on PostgreSQL a second claimer waits on the row lock and then sees the event already
applied, and on SQLite it waits for the single writer. Events that need a read from Stripe ask it
before the claim (``prefetch.py``), so no lock is held while Stripe answers, and it is the worker,
never the web request, that asks.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Update

from ..db import each_statement_commits, insert_ignore, insert_sql, run_alone, runs_alone
from ..donations.models import Donation
from ..donations.states import flag_donation
from ..metrics import webhook_applied
from ..models import WebhookEvent, WebhookOutcome, utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .apply_context import Ignore, LedgerContext, Quarantine, Wait, timestamp
from .dispatch import dispatch, handles, version_note
from .prefetch import PrefetchingGateway

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
_STORED = select(_events.c.outcome, _events.c.payload).where(
    _events.c.stripe_event_id == bindparam("b_event")
)
_STORED_OUTCOME = select(_events.c.outcome, _events.c.outcome_reason).where(
    _events.c.stripe_event_id == bindparam("b_event")
)
# Set by service/jobs.py (install_hand_over): queues an event's apply job, and whether it only
# queues it (a worker applies it later) rather than running it in-process.
_hand_over: Callable[[str], bool] | None = None
_defers: Callable[[], bool] = lambda: False  # noqa: E731 - replaced by install_hand_over


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


@cache
def _deliver_sql(columns: tuple[str, ...]) -> str:
    """``_deliver`` as psycopg's SQL, for :func:`service.db.run_alone`: one per set of columns."""
    return (
        f"{insert_sql(_events, columns)} "
        "ON CONFLICT (stripe_event_id) DO UPDATE SET "
        "delivery_count = webhook_events.delivery_count + 1, "
        "last_received_at = EXCLUDED.last_received_at "
        "RETURNING outcome, delivery_count"
    )


def _store_delivery(sessions: sessionmaker[Session], row: dict[str, Any]) -> tuple[str, int]:
    """INSERT the event, or count its redelivery; its stored outcome and delivery count.

    One statement committed alone. On PostgreSQL psycopg runs it as a prepared statement on a
    pooled connection in autocommit (``run_alone``, as the donation's own writes do,
    service/donations/writes.py): it is all the web request does for a webhook, hundreds a
    second at a peak, and SQLAlchemy's session and statement machinery around it cost more CPU
    than the statement itself (bench/README.md, "Webhook ingestion").
    """
    with sessions() as db:
        if runs_alone(db):
            stored = run_alone(db, _deliver_sql(tuple(row)), row)
            assert stored is not None  # RETURNING gives the inserted or the updated row
            return stored[0], stored[1]
        each_statement_commits(db)
        found = db.connection().execute(_deliver(db.get_bind().dialect.name), row).one()
        db.commit()
        return found.outcome, found.delivery_count


class MalformedEvent(Exception):
    """A verified body that is not a Stripe event (not UTF-8, not JSON, no id or type)."""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    outcome: str
    reason: str | None = None
    duplicate_delivery: bool = False
    event_type: str | None = None
    # Handed to the job queue and not applied yet (a worker will): nothing failed that Stripe
    # should retry, whatever the stored outcome says.
    queued: bool = False


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
    """Keep the event verbatim unless it is stored already; True if it is new.

    For events that did not arrive as a delivery (sync-events' backfill); a delivery is stored,
    and a redelivery counted, by :func:`receive`.
    """
    inserted = insert_ignore(db, WebhookEvent, _row(event, payload, source))
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
            each_statement_commits(db)  # one read: one round trip on PostgreSQL
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
            outcome = _set_aside(sessions, stripe_event_id, exc, allowed)
        except Exception as exc:
            db.rollback()
            outcome = _failed(sessions, event, exc, allowed)
    return replace(outcome, event_type=event["type"])


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
    # DEBUG: the job logs the outcome once (apply_stored); sync-events and replay report it.
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


# Built once: it runs after every payment, and building it cost more than running it.
WAITING_EVENTS = (
    select(WebhookEvent.stripe_event_id)
    .where(WebhookEvent.outcome == WebhookOutcome.WAITING)
    .order_by(WebhookEvent.event_created_at, WebhookEvent.id)
    .limit(WAITING_BATCH)
)


def apply_waiting(sessions: sessionmaker[Session], gateway: StripeGateway | None, settings: Settings) -> int:
    """Try every event that was waiting for its payment again; returns how many were applied.

    Called after an event that may have recorded a payment, and by sync-events. Waiting events
    are few and short-lived (the payment's own event is usually seconds behind), so one indexed
    query finds them; one that still cannot be applied simply stays ``waiting``.
    """
    with sessions() as db:
        each_statement_commits(db)  # one read: one round trip on PostgreSQL, after every payment
        waiting = list(db.scalars(WAITING_EVENTS))
    applied = 0
    for stripe_event_id in waiting:
        outcome = process_event(
            sessions, gateway, settings, stripe_event_id, allowed=(WebhookOutcome.WAITING,)
        )
        applied += outcome.outcome in (WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE)
    return applied


def install_hand_over(hand_over: Callable[[str], bool], defers: Callable[[], bool]) -> None:
    """How a stored event reaches the job queue (service/jobs.py installs it, once per process).

    ``hand_over(stripe_event_id)`` queues the apply job and returns True when the job has already
    run in-process (Huey's immediate mode); ``defers()`` says, before any delivery, whether it
    will only queue it (a worker's queue). Taken as arguments, as the outbox's commit hook is,
    because the job imports this module.
    """
    global _hand_over, _defers
    _hand_over, _defers = hand_over, defers


def hand_over_defers() -> bool:
    """Whether :func:`receive` only queues the apply job: then it never answers with an applied
    outcome, and never with a failure for Stripe to redeliver (service/ledger/fast_path.py)."""
    return _hand_over is not None and _defers()


def receive(sessions: sessionmaker[Session], settings: Settings, payload: bytes) -> Outcome:
    """Store one verified delivery, hand it to the job queue, and say what became of it.

    Raises MalformedEvent; database errors propagate (nothing was stored: the caller answers 503).
    The outcome is the stored one (``received`` for a new event, the earlier outcome for a
    redelivery), or, when the job ran in-process, the applied one.
    """
    text = _decode(payload)
    event = _parse(text)
    event_id, event_type = event["id"], event["type"]
    row = _row(event, text, "webhook")
    if not handles(event_type):
        # Acknowledged and stored as ignored at once: nothing in it is for the ledger, no job.
        row.update(
            outcome=WebhookOutcome.IGNORED,
            outcome_reason="event_type_not_used",
            processed_at=row["received_at"],
            process_attempts=1,
        )
    stored_outcome, delivery_count = _store_delivery(sessions, row)
    duplicate = delivery_count > 1
    # A redelivery of an event not yet applied (its job lost, still queued, or failed) is handed
    # over again: cheap, and the claim makes a second job a no-op.
    if stored_outcome not in RETRYABLE:
        reason = row["outcome_reason"] if not duplicate else None
        return Outcome(event_id, stored_outcome, reason, duplicate, event_type)
    if _hand_over is None or not _hand_over_safely(event_id):
        return Outcome(event_id, stored_outcome, None, duplicate, event_type, queued=True)
    with sessions() as db:
        each_statement_commits(db)
        applied = db.connection().execute(_STORED_OUTCOME, {"b_event": event_id}).one()
        db.commit()
    return Outcome(event_id, applied.outcome, applied.outcome_reason, duplicate, event_type)


def _hand_over_safely(stripe_event_id: str) -> bool:
    """Queue the event's job; True if it already ran. A failed hand-over loses nothing (apply_due)."""
    assert _hand_over is not None
    try:
        return _hand_over(stripe_event_id)
    except Exception:  # noqa: BLE001 - the stored row is the outbox; apply_due finds it
        log.warning("webhook_hand_over_failed", exc_info=True, extra={"stripe_event_id": stripe_event_id})
        return False


def apply_stored(
    sessions: sessionmaker[Session], gateway: StripeGateway | None, settings: Settings, stripe_event_id: str
) -> Outcome:
    """The job: apply a stored event unless another job or delivery already did.

    An event that recorded a payment is followed by another try of the events waiting for one.
    """
    outcome = process_event(sessions, gateway, settings, stripe_event_id)
    if outcome.outcome == WebhookOutcome.PROCESSED and outcome.event_type in UNBLOCKING:
        apply_waiting(sessions, gateway, settings)
    if not outcome.duplicate_delivery:
        webhook_applied(outcome.event_type, outcome.outcome)
        # The worker's one line per event (the web request's access line said `received`).
        log.info(
            "webhook_event_applied",
            extra={
                "stripe_event_id": stripe_event_id,
                "type": outcome.event_type,
                "outcome": outcome.outcome,
            },
        )
    return outcome


# A `received` event older than this was not handed over (or its worker is far behind): apply it.
RECEIVED_GRACE = timedelta(minutes=2)
# A failed event is retried after 1, 2, 4 ... minutes (at most an hour apart), this many attempts
# in all (about two hours), then left `failed` with needs_review for an operator.
MAX_APPLY_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
APPLY_DUE_BATCH = 500


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt an event is tried again."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


@dataclass
class DueReport:
    received: int = 0
    retried: int = 0
    gave_up: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    waiting_applied: int = 0


def apply_due(
    sessions: sessionmaker[Session],
    gateway: StripeGateway | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = APPLY_DUE_BATCH,
) -> DueReport:
    """Apply what the job queue did not: events left ``received`` past the grace (a lost hand-over,
    a worker far behind), ``failed`` events whose back-off has passed, and events still waiting
    for their payment. Failed events out of attempts are flagged ``needs_review`` instead.
    Idempotent: run every minute by the worker."""
    now = now or utcnow()
    report = DueReport()
    events = WebhookEvent.__table__.c
    # Due after each attempt's back-off: one term per attempt count, so any backend can index it.
    backoff_passed = or_(*(
        (events.process_attempts == attempts) & (events.processed_at <= now - retry_delay(attempts))
        for attempts in range(1, MAX_APPLY_ATTEMPTS)
    ))  # fmt: skip
    with sessions() as db:
        stuck = list(
            db.scalars(
                select(events.stripe_event_id)
                .where(events.outcome == WebhookOutcome.RECEIVED, events.received_at < now - RECEIVED_GRACE)
                .order_by(events.received_at)
                .limit(limit)
            )
        )
        failed = list(
            db.scalars(
                select(events.stripe_event_id)
                .where(events.outcome == WebhookOutcome.FAILED, backoff_passed)
                .order_by(events.processed_at)
                .limit(limit)
            )
        )
        report.gave_up = list(
            db.scalars(
                _events.update()
                .where(
                    events.outcome == WebhookOutcome.FAILED,
                    events.process_attempts >= MAX_APPLY_ATTEMPTS,
                    events.needs_review.is_(False),
                )
                .values(needs_review=True)
                .returning(events.stripe_event_id)
            )
        )
        db.commit()
    for stripe_event_id in report.gave_up:
        log.error(
            "webhook_event_gave_up",
            extra={"stripe_event_id": stripe_event_id, "attempts": MAX_APPLY_ATTEMPTS},
        )
    for stripe_event_id in stuck + failed:
        outcome = apply_stored(sessions, gateway, settings, stripe_event_id)
        if not outcome.duplicate_delivery:
            report.outcomes[outcome.outcome] += 1
    report.received, report.retried = len(stuck), len(failed)
    # Events waiting for their payment are tried again after each event that may record one, but
    # one can be set aside just after that event's look (two workers at once: A finds no payment,
    # B records it and finds nothing waiting yet, A then stores `waiting`). Trying them each minute
    # bounds that wait to a minute instead of the next payment event or sync-events.
    report.waiting_applied = apply_waiting(sessions, gateway, settings)
    return report
