"""Confirming a donation from the thank-you page, before Stripe's webhook arrives.

The donor comes back from Checkout with the session's id; Stripe is asked for the session and
its facts are applied exactly as the webhook will apply them, so the donor sees "paid" at once.
Applying is the ledger's (service/ledger/apply_checkout.py): the page passes its functions in,
so this package never imports the ledger that moves donations through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..stripe_gateway import CheckoutSession, StripeGateway, StripeGatewayError
from .create import find_by_checkout_session
from .models import Donation
from .states import AmountMismatch, flag_donation

# The ledger's record_session: a session's facts on its donation, then its one-off payment.
RecordSession = Callable[[Session, str, CheckoutSession], object]
# The ledger's apply_session for a Payment Link session, as Stripe returned it: the donation it
# paid, or None when it names none of ours (the webhook sets it aside for finance).
ApplyLinkSession = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True)
class Confirmation:
    donation: Donation | None
    # False when Stripe could not be asked: the page shows what the ledger knows, and the webhook
    # will catch up.
    confirmed: bool


def confirm_return(
    db: Session,
    gateway: StripeGateway,
    appeal_id: int,
    session_id: str,
    *,
    record_session: RecordSession,
    apply_link_session: ApplyLinkSession,
) -> Confirmation:
    """The donation a returning donor's session paid, brought up to date with Stripe; commits."""
    donation = find_by_checkout_session(db, session_id) if session_id.startswith("cs_") else None
    if donation is None and session_id.startswith("cs_"):
        # A surge Payment Link's session: only Stripe knows which donation it paid until the
        # webhook arrives, so ask it now rather than tell a donor who just paid that we can't find it.
        return Confirmation(_from_payment_link(db, gateway, session_id, apply_link_session), True)
    if donation is None or donation.appeal_id != appeal_id:
        return Confirmation(donation, True)
    try:
        checkout = gateway.retrieve_checkout_session(session_id)
    except StripeGatewayError:
        return Confirmation(donation, False)
    return Confirmation(confirm_session(db, donation, checkout, record_session), True)


def confirm_session(
    db: Session, donation: Donation, session: CheckoutSession, record_session: RecordSession
) -> Donation:
    """Bring the donation up to date with the session Stripe reports; commits.

    An amount that contradicts the donation is flagged for finance instead of applied.
    """
    try:
        record_session(db, donation.id, session)
    except AmountMismatch as exc:
        db.rollback()
        flag_donation(db, exc.donation_id, exc.reason)
    db.commit()
    refreshed = db.get(Donation, donation.id, populate_existing=True)
    assert refreshed is not None
    return refreshed


def _from_payment_link(
    db: Session, gateway: StripeGateway, session_id: str, apply_link_session: ApplyLinkSession
) -> Donation | None:
    """Apply a Payment Link session exactly as its webhook will, then show its donation."""
    try:
        raw = gateway.retrieve_checkout_session_raw(session_id)
    except StripeGatewayError:
        return None
    if not raw.get("payment_link"):
        return None
    donation_id = apply_link_session(raw)
    if donation_id is None:
        db.rollback()  # not attributable to a donation: the webhook sets it aside for finance
        return None
    db.commit()
    return db.get(Donation, donation_id, populate_existing=True)
