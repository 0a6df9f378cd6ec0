"""Finishing donations that webhooks cannot: no Checkout Session yet, or one that lapsed silently.

A donation whose session was never created (Stripe unreachable, worker killed) is retried with
the same idempotency key and identical parameters, so Stripe replays a session it already made.
A pending donation whose session should have expired is settled by asking Stripe for the
session and applying it with the same function the webhook uses.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from ..donations import RETRYABLE, ensure_checkout_session
from ..donations.models import Donation, DonationStatus
from ..donations.monthly_offer import expire_unanswered
from ..donations.states import advance_donation, flag_donation
from ..errors import CheckoutUnavailable
from ..models import utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway, StripeGatewayError
from .apply_checkout import apply_session
from .apply_context import LedgerContext, Quarantine

log = logging.getLogger(__name__)
# Sessions expire on Stripe's clock; give its expiry event this long before asking ourselves.
EXPIRY_GRACE = timedelta(minutes=10)


def sweep(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> Counter[str]:
    """One pass; returns counts such as ``session_created``, ``expired``, ``still_failing``."""
    now = now or utcnow()
    report: Counter[str] = Counter()
    # Younger rows may belong to a request still creating their session.
    settled_before = now - timedelta(seconds=settings.worker_timeout_seconds + 5)
    with sessions() as db:
        without_session = list(
            db.scalars(
                select(Donation.id)
                .where(
                    Donation.status.in_(RETRYABLE),
                    Donation.created_at < settled_before,
                    # A donor still answering the monthly offer is left alone until its window ends.
                    or_(
                        Donation.monthly_offer.is_(None),
                        Donation.monthly_offer != "offered",
                        Donation.created_at < now - timedelta(minutes=settings.checkout_session_minutes),
                    ),
                )
                .order_by(Donation.created_at)
                .limit(limit)
            )
        )
        lapsed = list(
            db.scalars(
                select(Donation.id)
                .where(
                    Donation.status == DonationStatus.PENDING,
                    Donation.stripe_checkout_session_id.is_not(None),
                    Donation.checkout_expires_at < now - EXPIRY_GRACE,
                )
                .order_by(Donation.created_at)
                .limit(limit)
            )
        )
    for donation_id in without_session:
        report[_create_session(sessions, gateway, settings, donation_id, now)] += 1
    for donation_id in lapsed:
        report[_check_session(sessions, gateway, settings, donation_id)] += 1
    return report


def _create_session(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    settings: Settings,
    donation_id: str,
    now: datetime,
) -> str:
    with sessions() as db:
        donation = db.get(Donation, donation_id)
        if donation is None or donation.status not in RETRYABLE:
            return "skipped"
        if donation.monthly_offer == "offered":
            # The donor has not answered the monthly offer: no session until they do, and none
            # at all once the checkout window is over (service/donations/monthly_offer.py).
            return "offer_expired" if expire_unanswered(db, settings, donation) else "awaiting_donor"
        window_over = donation.created_at + timedelta(minutes=settings.checkout_session_minutes) < now
        try:
            ensure_checkout_session(db, gateway, settings, donation, in_progress_wait=0, now=now)
            return "session_created"
        except CheckoutUnavailable as exc:
            if exc.kind == "rejected" and window_over:
                # Stripe will not make a session that expires in the past: the gift lapsed.
                advance_donation(db, donation_id, DonationStatus.EXPIRED)
                db.commit()
                return "expired"
            log.warning("sweep_session_failed", extra={"donation_id": donation_id, "kind": exc.kind})
            return "still_failing"


def _check_session(
    sessions: sessionmaker[Session], gateway: StripeGateway, settings: Settings, donation_id: str
) -> str:
    with sessions() as db:
        donation = db.get(Donation, donation_id)
        if donation is None or donation.stripe_checkout_session_id is None:
            return "skipped"
        try:
            session = gateway.retrieve_checkout_session_raw(donation.stripe_checkout_session_id)
        except StripeGatewayError as exc:
            log.warning("sweep_retrieve_failed", extra={"donation_id": donation_id, "kind": exc.kind})
            return "still_failing"
        try:
            applied = apply_session(LedgerContext(db, gateway, settings), session)
        except Quarantine as exc:
            db.rollback()
            flag_donation(db, donation_id, exc.reason)
            db.commit()
            return "flagged"
        db.commit()
        return "updated" if applied.changed else "unchanged"
