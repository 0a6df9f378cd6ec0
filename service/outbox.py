"""The outbox: every email a ledger change causes, written in the transaction that makes the change.

A message is a row with a stable id derived from what caused it (``receipt:pi_123``), inserted
with ON CONFLICT DO NOTHING, so the same fact applied twice (a redelivered webhook, the sweeper
and the webhook racing) queues it once. Nothing is sent from inside the transaction: once it
commits, the job library is asked to deliver the new ids (:func:`install_commit_hook`), and a
periodic job picks up anything whose hand-over was lost (a crash between commit and enqueue, a
Redis outage). Delivery claims a row with a compare-and-set UPDATE and a lease, so two workers
never send one message, and a worker killed mid-send leaves a lease that expires and lets
another worker retry it.

What is stored is what the message is about (donation, payment, kind, language), not the
rendered text: the worker renders it when it sends (service/emails.py), from the ledger as it
stands then. The recipient is the donation's email, read at send time too, so erasing a donor
(service/privacy.py) also stops their queued mail.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, event, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import insert_ignore
from .models import Base, utcnow

log = logging.getLogger(__name__)


class MessageStatus:
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker until ``locked_until``
    SENT = "sent"  # the SMTP server accepted it (or the development mailbox kept it)
    FAILED = "failed"  # permanently refused, or retries exhausted: operators look (flask mail failed)
    SKIPPED = "skipped"  # nothing to send any more (no address, donor erased)

    ALL = (PENDING, SENDING, SENT, FAILED, SKIPPED)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_due", "status", "next_attempt_at"),)

    # Stable and derived from the cause, e.g. ``receipt:pi_123``; also the Message-ID's left part.
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    donation_id: Mapped[str | None] = mapped_column(ForeignKey("donations.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    transport: Mapped[str | None] = mapped_column(String(16))  # smtp | local
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


# A claimed message whose worker has not finished within this time is taken to have died.
LEASE = timedelta(minutes=2)
# Retries after a temporary failure: 30 s doubling to at most an hour, for about a day in all.
MAX_ATTEMPTS = 30
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
_NEW_IDS = "outbox_new_ids"
_enqueue: Any = None


# Why a message was skipped when its donation had no address yet (service/emails.py).
NO_ADDRESS = "no_email_address"


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def queue(
    db: Session,
    message_id: str,
    kind: str,
    *,
    donation_id: str | None = None,
    payment_id: int | None = None,
    context: dict[str, Any] | None = None,
) -> bool:
    """Queue a message in the caller's transaction; False if one with this id already exists."""
    now = utcnow()
    inserted = insert_ignore(
        db,
        OutboxMessage,
        {
            "id": message_id[:200],
            "kind": kind,
            "donation_id": donation_id,
            "payment_id": payment_id,
            "context": context or {},
            "status": MessageStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    if inserted:
        db.info.setdefault(_NEW_IDS, []).append(message_id[:200])
    return inserted


def install_commit_hook(enqueue: Any) -> None:
    """After a commit that queued messages, hand their ids to ``enqueue`` (the job library).

    A rollback forgets them. If the hand-over itself fails the rows are still pending, and the
    periodic :func:`due_ids` sweep sends them: the hand-over only makes delivery prompt. Installed
    once per process (every app shares it); a second call replaces the hand-over function.
    """
    global _enqueue
    first = _enqueue is None
    _enqueue = enqueue
    if not first:
        return

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        new_ids = session.info.pop(_NEW_IDS, None)
        for message_id in new_ids or ():
            try:
                _enqueue(message_id)  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - the periodic sweep delivers it instead
                log.warning("outbox_enqueue_failed", exc_info=True, extra={"message_id": message_id})

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_NEW_IDS, None)


def claim(db: Session, message_id: str, *, now: datetime | None = None) -> OutboxMessage | None:
    """Take the message for sending if it is due (or its last worker's lease ran out); commits."""
    now = now or utcnow()
    result = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            or_(
                (OutboxMessage.status == MessageStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
                (OutboxMessage.status == MessageStatus.SENDING) & (OutboxMessage.locked_until < now),
            ),
        )
        .values(status=MessageStatus.SENDING, locked_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
    )
    db.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return db.get(OutboxMessage, message_id, populate_existing=True)


def _finish(db: Session, message_id: str, **values: Any) -> None:
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == MessageStatus.SENDING)
        .values(locked_until=None, **values)
    )
    db.commit()


def mark_sent(db: Session, message_id: str, transport: str) -> None:
    _finish(db, message_id, status=MessageStatus.SENT, sent_at=utcnow(), transport=transport, last_error=None)


def mark_skipped(db: Session, message_id: str, reason: str) -> None:
    _finish(db, message_id, status=MessageStatus.SKIPPED, last_error=reason[:500])


def mark_failed(db: Session, message: OutboxMessage, error: str, *, permanent: bool) -> str:
    """Record a failed attempt: retried later with back-off, or failed for good. Returns the status."""
    if permanent or message.attempts >= MAX_ATTEMPTS:
        _finish(db, message.id, status=MessageStatus.FAILED, last_error=error[:500])
        return MessageStatus.FAILED
    _finish(
        db,
        message.id,
        status=MessageStatus.PENDING,
        last_error=error[:500],
        next_attempt_at=utcnow() + retry_delay(message.attempts),
    )
    return MessageStatus.PENDING


def due_ids(db: Session, *, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Messages that should be sent now: due, or claimed by a worker that has since died."""
    now = now or utcnow()
    query = (
        select(OutboxMessage.id)
        .where(
            or_(
                (OutboxMessage.status == MessageStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
                (OutboxMessage.status == MessageStatus.SENDING) & (OutboxMessage.locked_until < now),
            )
        )
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    return list(db.scalars(query))


def revive_for_new_address(db: Session, donation_id: str) -> list[str]:
    """The donation has just learnt its address (Checkout's ``customer_details.email`` came after
    the payment): its messages skipped for want of one are due again, in the caller's transaction."""
    revived = list(
        db.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.donation_id == donation_id,
                OutboxMessage.status.in_((MessageStatus.SKIPPED, MessageStatus.PENDING)),
                OutboxMessage.last_error == NO_ADDRESS,
            )
            .values(status=MessageStatus.PENDING, next_attempt_at=utcnow(), last_error=None)
            .returning(OutboxMessage.id)
        )
    )
    if revived:
        db.info.setdefault(_NEW_IDS, []).extend(revived)
    return revived


def retry_failed(db: Session, message_id: str) -> bool:
    """An operator sends a failed message again (after fixing the cause); commits."""
    result = db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == MessageStatus.FAILED)
        .values(status=MessageStatus.PENDING, attempts=0, next_attempt_at=utcnow())
    )
    if result.rowcount:  # type: ignore[attr-defined]
        db.info.setdefault(_NEW_IDS, []).append(message_id)
    db.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def counts(db: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: count for status, count in rows}
