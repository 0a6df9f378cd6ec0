"""Applying what Stripe says about a Checkout Session to its donation.

One idempotent function, called from the thank-you page (and, by the webhook ledger, from
events and backfills), as Stripe's fulfilment guide recommends. A late or repeated fact never
moves a donation backwards.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import Donation, DonationStatus, utcnow
from .stripe_gateway import CheckoutSession

S = DonationStatus
# Which states each state may move to. Anything not listed is a step backwards (or sideways
# into a contradiction) and is ignored.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PENDING, S.CHECKOUT_ERROR, S.PROCESSING, S.PAID, S.FAILED, S.EXPIRED}),
    S.CHECKOUT_ERROR: frozenset({S.PENDING, S.PROCESSING, S.PAID, S.FAILED, S.EXPIRED}),
    S.PENDING: frozenset({S.PROCESSING, S.PAID, S.FAILED, S.EXPIRED}),
    S.PROCESSING: frozenset({S.PAID, S.FAILED}),
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.CANCELLED}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED, S.DISPUTED}),
    S.REFUNDED: frozenset(),
    S.DISPUTED: frozenset({S.DISPUTE_WON, S.DISPUTE_LOST}),
    S.DISPUTE_WON: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.DISPUTE_LOST: frozenset(),
    S.CANCELLED: frozenset(),
}


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def status_from_session(session: CheckoutSession) -> str | None:
    if session.status == "complete":
        if session.payment_status in ("paid", "no_payment_required"):
            return S.PAID
        return S.PROCESSING
    if session.status == "expired":
        return S.EXPIRED
    return None


def move_donation(db: Session, donation: Donation, new_status: str) -> bool:
    """Compare-and-set so two concurrent deliveries cannot both apply a transition."""
    if not can_move(donation.status, new_status):
        return False
    result = db.execute(
        update(Donation)
        .where(Donation.id == donation.id, Donation.status == donation.status)
        .values(status=new_status, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def apply_checkout_session(db: Session, donation: Donation, session: CheckoutSession) -> Donation:
    """Bring the donation up to date with the session Stripe reports; commits."""
    new_status = status_from_session(session)
    changes = {}
    if session.payment_intent_id and not donation.stripe_payment_intent_id:
        changes["stripe_payment_intent_id"] = session.payment_intent_id
    if session.subscription_id and not donation.stripe_subscription_id:
        changes["stripe_subscription_id"] = session.subscription_id
    if session.customer_id and not donation.stripe_customer_id:
        changes["stripe_customer_id"] = session.customer_id
    if changes:
        db.execute(update(Donation).where(Donation.id == donation.id).values(**changes))
    if new_status is not None:
        move_donation(db, donation, new_status)
    db.commit()
    refreshed = db.get(Donation, donation.id, populate_existing=True)
    assert refreshed is not None
    return refreshed
