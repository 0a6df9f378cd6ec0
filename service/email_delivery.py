"""Delivering one outbox message: claim it, render it, send it, record what happened.

Called by the job worker (service/jobs.py) with a message id, never from inside a ledger
transaction. The claim is a compare-and-set with a lease (service/outbox.py): a second worker
given the same id finds it taken or already sent and does nothing. Without ``MAIL_URL``
(development and tests only; production refuses to start without it) the message is kept in the
local mailbox, which the development page /dev/mail shows.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from . import metrics
from .emails import NothingToSend, compose
from .mailer import SendFailed, parse_mail_url, send_smtp
from .models import utcnow
from .outbox import NO_ADDRESS, MessageStatus, claim, mark_failed, mark_sent, mark_skipped
from .settings import Settings

log = logging.getLogger(__name__)
# How long a message waits for its donation's address (Checkout's, in a concurrent event) before
# it is skipped as having none.
ADDRESS_WAIT = timedelta(hours=1)


def deliver(db: Session, settings: Settings, message_id: str) -> str | None:
    """Send the message if it is due and nobody else has it; returns its new status, or None."""
    row = claim(db, message_id)
    if row is None:
        return None
    kind = row.kind
    try:
        composed = compose(db, row, settings)
    except NothingToSend as exc:
        if str(exc) == NO_ADDRESS and row.created_at > utcnow() - ADDRESS_WAIT:
            # Checkout's address may be in an event still being applied (events come in any order,
            # concurrently): wait and try again, rather than skip a receipt the donor is owed.
            status = mark_failed(db, row, NO_ADDRESS, permanent=False)
            log.info("email_waiting_for_address", extra={"message_id": message_id})
            return status
        mark_skipped(db, message_id, str(exc))
        metrics.email_outcome(kind, MessageStatus.SKIPPED)
        log.info("email_skipped", extra={"message_id": message_id, "reason": str(exc)})
        return MessageStatus.SKIPPED
    except Exception as exc:  # noqa: BLE001 - a rendering bug must not lose the message
        db.rollback()
        status = mark_failed(db, row, f"render: {type(exc).__name__}", permanent=False)
        log.error("email_render_failed", exc_info=True, extra={"message_id": message_id})
        metrics.email_outcome(kind, "render_error")
        return status
    if settings.mail_url is None:
        mark_sent(db, message_id, "local")
        metrics.email_outcome(kind, MessageStatus.SENT)
        log.info("email_kept_locally", extra={"message_id": message_id, "kind": composed.kind})
        return MessageStatus.SENT
    try:
        send_smtp(parse_mail_url(settings.mail_url), composed.message)
    except SendFailed as exc:
        status = mark_failed(db, row, exc.reason, permanent=exc.permanent)
        level = logging.ERROR if status == MessageStatus.FAILED else logging.WARNING
        log.log(
            level,
            "email_send_failed",
            extra={"message_id": message_id, "reason": exc.reason, "attempt": row.attempts, "status": status},
        )
        metrics.email_outcome(kind, "failed" if status == MessageStatus.FAILED else "retry")
        return status
    mark_sent(db, message_id, "smtp")
    metrics.email_outcome(kind, MessageStatus.SENT)
    log.info("email_sent", extra={"message_id": message_id, "kind": composed.kind, "attempt": row.attempts})
    return MessageStatus.SENT
