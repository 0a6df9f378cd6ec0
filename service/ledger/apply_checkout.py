"""Checkout Session events: completed (paid or not), async payment succeeded or failed, expired.

The thank-you page (service/donations/confirm.py) applies a returning donor's session through
:func:`record_session` and :func:`apply_returned_link_session`: the same facts, applied the same
way, when the donor comes back before the webhook.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..donations import states
from ..donations.models import Donation, DonationStatus
from ..donations.states import AmountMismatch, LockedDonation, lock_donation_for_session
from ..donations.surge import NotAttributable, attributed_donation
from ..outbox import queue
from ..stripe_gateway import CheckoutSession
from . import payments
from .apply_context import Applied, Ignore, LedgerContext, Quarantine, our_donation_id
from .payments import fetch_missing_charge, find_payment


def record_session(
    db: Session,
    donation_id: str,
    session: CheckoutSession,
    *,
    status: str | None = None,
    locked: LockedDonation | None = None,
) -> Applied:
    """The session's facts on its donation (service/donations/states.py), then its one-off payment.

    Inside the caller's transaction; AmountMismatch changes nothing.
    """
    recorded = states.record_session(db, donation_id, session, status=status, locked=locked)
    donation = recorded.donation
    if donation is None:
        return Applied(None, False)
    changed = recorded.changed
    if recorded.new_status == DonationStatus.PAID and session.mode == "payment" and session.payment_intent_id:
        changed |= payments.upsert_payment(
            db,
            donation,  # type: ignore[arg-type]
            kind="one_off",
            payment_intent_id=session.payment_intent_id,
            amount=session.amount_total or states.expected_amount(donation),  # type: ignore[arg-type]
            currency=session.currency or donation.currency,
        )
    return Applied(donation.id, changed)


def apply_session(ctx: LedgerContext, session_obj: dict[str, Any], *, failed: bool = False) -> Applied:
    """The one function for a session's state, from an event, the backfill or the sweeper."""
    session = CheckoutSession.from_stripe(session_obj)
    try:
        # A Payment Link session (surge mode) names its donation only by client_reference_id.
        linked = attributed_donation(ctx.db, session_obj)
    except NotAttributable as exc:
        raise Quarantine(exc.reason, exc.donation_id) from None
    if linked is not None and session.status != "complete":
        # Each visit to a Payment Link opens a new Checkout Session, so a donor who went back and
        # paid through a second visit leaves the first one to expire. That session was never the
        # donation's: it must neither expire nor flag the gift paid through the same link.
        raise Ignore("payment_link_session_not_completed")
    donation_id = linked.id if linked is not None else our_donation_id(ctx, session.metadata)
    # Locked from here to the commit, so one donation's facts apply one at a time.
    donation = lock_donation_for_session(ctx.db, donation_id)
    if donation is None:
        raise Quarantine("unknown_donation")
    if donation.stripe_checkout_session_id not in (None, session.id):
        # Our metadata on a session we did not record for this donation: someone copied it.
        raise Quarantine("session_not_the_donations", donation.id)
    if donation.stripe_checkout_session_id is None:
        # The response creating the session was lost; the event is how we learn its id.
        ctx.db.execute(
            update(Donation)
            .where(Donation.id == donation.id, Donation.stripe_checkout_session_id.is_(None))
            .values(stripe_checkout_session_id=session.id, checkout_expires_at=session.expires_at)
        )
    status = DonationStatus.FAILED if failed else None
    try:
        applied = record_session(ctx.db, donation.id, session, status=status, locked=donation)
    except AmountMismatch as exc:
        raise Quarantine(exc.reason, donation.id) from None
    if linked is not None and session.payment_intent_id:
        # A Payment Link's charge names no donation (its metadata is the link's), so charge events
        # that came before this one were set aside: the fee is fetched now, whatever the order.
        payment = find_payment(ctx.db, payment_intent_id=session.payment_intent_id)
        if payment is not None and payment.balance_transaction_id is None:
            applied = Applied(
                applied.donation_id, fetch_missing_charge(ctx.db, ctx.gateway, payment) or applied.changed
            )
    return applied


def apply_returned_link_session(ctx: LedgerContext, session_obj: dict[str, Any]) -> str | None:
    """A Payment Link session the donor came back from, applied as its webhook will be: the id of
    the donation it paid, or None when it is not attributable (ignored or quarantined), which
    leaves the caller to roll back and the webhook to set the event aside for finance."""
    try:
        return apply_session(ctx, session_obj).donation_id
    except (Ignore, Quarantine):
        return None


def on_session_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    failed = event["type"] == "checkout.session.async_payment_failed"
    applied = apply_session(ctx, event["data"]["object"], failed=failed)
    if failed and applied.donation_id:
        tell_donor_debit_failed(ctx, applied.donation_id, event["data"]["object"])
    return applied


def tell_donor_debit_failed(ctx: LedgerContext, donation_id: str, session_obj: dict[str, Any]) -> None:
    """A bank debit the bank refused days after Checkout: the gift is reversed (``failed``, never in
    ``raised``) and the donor is told by email, queued in this transaction; once per session, so a
    redelivered or replayed event queues nothing new."""
    donation = ctx.db.get(Donation, donation_id)
    if donation is None or donation.status != DonationStatus.FAILED:
        return  # already paid or refunded by other facts: nothing failed for the donor
    queue(
        ctx.db, f"debit_failed:{session_obj['id']}", "debit_failed", donation_id=donation_id,
        context={"amount": session_obj.get("amount_total") or donation.charge_amount},
    )  # fmt: skip
