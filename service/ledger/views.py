"""``POST /webhooks/stripe``: verify the raw body, store it, hand it to the job queue, answer.

Stripe retries anything but a 2xx for three days, so the answer says what Stripe should do:
2xx once the event is stored (``received``: the job applies it; or a redelivery's stored outcome),
400 for a delivery that is not provably Stripe's (a retry cannot fix it), 503 when the database
is unavailable (nothing stored), and 500 only when the job ran in-process (immediate mode: no
worker, no scheduler to retry) and failed, so that Stripe delivers again later.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import extensions
from ..db import database
from ..errors import error_response
from ..metrics import webhook_delivery
from ..models import WebhookOutcome
from ..settings import Settings
from .receiving import MalformedEvent, Outcome, receive
from .signature import SignatureError, verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# Stripe's events are far below this; the app-wide 64 KiB limit is for donor forms.
MAX_EVENT_BYTES = 1024 * 1024
# The WSGI environ key under which the fast path hands the view the exception its store raised.
STORE_FAILED = "donation_router.webhook_store_failed"


class RejectionCounter:
    """Deliveries refused before storage, by reason (exported for monitoring; nothing is stored)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, reason: str) -> None:
        with self._lock:
            self.counts[reason] += 1


def rejections(app: Flask) -> RejectionCounter:
    return extensions.webhook_rejections(app, RejectionCounter)


def _reject(reason: str, code: str, message: str, status: int = 400) -> Any:
    rejections(current_app).add(reason)
    webhook_delivery(None, reason)
    # The source address and reason only: an unverified body may be anyone's data.
    log.warning("webhook_rejected", extra={"reason": reason, "remote_addr": request.remote_addr})
    return error_response(status, code, message)


@bp.post("/stripe", strict_slashes=False)
def stripe_webhook() -> Any:
    request.max_content_length = MAX_EVENT_BYTES
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _reject("too_large", "payload_too_large", "The body is larger than any Stripe event.", 413)
    settings = extensions.settings()
    try:
        verify_signature(payload, request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets)
    except SignatureError as exc:
        return _reject(exc.reason, "invalid_signature", "The Stripe-Signature header does not verify.")
    try:
        outcome = _receive(settings, payload)
    except MalformedEvent as exc:
        return _reject(str(exc), "malformed_event", "The body is not a Stripe event.")
    except SQLAlchemyError as exc:
        log.error("webhook_database_unavailable", extra={"exception_type": type(exc).__name__})
        webhook_delivery(None, "database_unavailable")
        return error_response(
            503, "database_unavailable", "The ledger is unavailable; retry later.", retry_after=60
        )
    count_delivery(outcome)
    # One log line per delivery: the access line (service/http_hooks.py) carries these.
    g.access_log_fields = access_log_fields(outcome)
    if asks_for_redelivery(outcome):
        return error_response(500, "processing_failed", "The event was stored but could not be applied.")
    return jsonify(answer(outcome))


def _receive(settings: Settings, payload: bytes) -> Outcome:
    """``receive``, unless the fast path in front of Flask just tried it and failed: then that
    failure is answered here as the view's own, without a second wait on a database that is down
    (service/ledger/fast_path.py)."""
    failed = request.environ.pop(STORE_FAILED, None)
    if failed is not None:
        raise failed
    return receive(database().sessionmaker, settings, payload)


# What a stored delivery is counted, logged and answered with: the view above and the fast path in
# front of Flask (service/ledger/fast_path.py) both use these, so the two cannot drift apart.


def count_delivery(outcome: Outcome) -> None:
    """The delivery's ``webhook_deliveries`` count: a redelivery as ``duplicate``."""
    webhook_delivery(outcome.event_type, "duplicate" if outcome.duplicate_delivery else outcome.outcome)


def access_log_fields(outcome: Outcome) -> dict[str, Any]:
    """The fields the delivery's access line carries after the request's own."""
    return {
        "stripe_event_id": outcome.event_id,
        "outcome": outcome.outcome,
        "duplicate": outcome.duplicate_delivery,
    }


def asks_for_redelivery(outcome: Outcome) -> bool:
    """Whether the answer is the 500 that makes Stripe deliver again.

    Only in immediate mode (or a redelivery of a failed event): with a worker the answer is
    `received`, and a failure is retried by apply_due, not by Stripe.
    """
    return outcome.outcome == WebhookOutcome.FAILED and not outcome.queued


def answer(outcome: Outcome) -> dict[str, Any]:
    """The 200 answer's JSON object."""
    return {
        "received": True,
        "event": outcome.event_id,
        "outcome": outcome.outcome,
        "duplicate": outcome.duplicate_delivery,
    }
