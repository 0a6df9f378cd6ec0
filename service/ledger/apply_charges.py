"""Charge and dispute events: the payment's charge, fee, cumulative refunds and disputes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from ..donations.models import Donation, DonationStatus
from ..donations.states import (
    AmountMismatch,
    advance_donation,
    check_amount,
    expected_amount,
    lock_donation,
)
from ..models import Payment
from ..stripe_gateway import StripeGatewayError
from .apply_context import (
    Applied,
    Ignore,
    LedgerContext,
    Quarantine,
    Wait,
    donation_by,
    id_of,
    our_donation,
    our_donation_id,
    timestamp,
)
from .payments import find_payment, merge_charge, merge_dispute, recount_refunds, upsert_payment

# The donation's state for each dispute status that moves money. Inquiries (warning_*) and
# prevented disputes withdraw nothing; an appeal (appeal_*) follows a loss, so the money is still out.
DISPUTE_STATES = {"won": DonationStatus.DISPUTE_WON, "lost": DonationStatus.DISPUTE_LOST, "needs_response": DonationStatus.DISPUTED,
                  "under_review": DonationStatus.DISPUTED, "appeal_needs_response": DonationStatus.DISPUTE_LOST,
                  "appeal_under_review": DonationStatus.DISPUTE_LOST}  # fmt: skip


def _locked(ctx: LedgerContext, donation_id: str) -> Donation:
    donation = lock_donation(ctx.db, donation_id)
    assert donation is not None
    return donation


def _resolve(
    ctx: LedgerContext, payment_intent_id: str | None, charge: dict[str, Any]
) -> tuple[Donation, Payment | None]:
    payment = find_payment(ctx.db, payment_intent_id=payment_intent_id, charge_id=charge.get("id"))
    if payment is not None:
        # Read again under the lock: the row read above may predate a fact another worker applied.
        donation = _locked(ctx, payment.donation_id)
        return donation, find_payment(ctx.db, payment_intent_id=payment_intent_id, charge_id=charge.get("id"))
    metadata = charge.get("metadata") or {}
    if metadata and "donation_id" in metadata:
        donation = our_donation(ctx, metadata)
    else:
        found = donation_by(ctx, stripe_payment_intent_id=payment_intent_id)
        if found is None:
            # Charges of monthly gifts carry no metadata, and a surge Payment Link's carry only the
            # link's (no donation id): their invoice.paid or checkout session fetches the charge,
            # and this event is applied again then (a refund it reports included).
            if metadata and metadata.get("deployment") != ctx.settings.deployment_id:
                our_donation_id(ctx, metadata)  # raises Quarantine naming the other deployment
            raise Wait("charge_before_its_payment")
        donation = found
    donation = _locked(ctx, donation.id)
    # Another event may have created the payment while we waited for the lock.
    return donation, find_payment(ctx.db, payment_intent_id=payment_intent_id, charge_id=charge.get("id"))


def sync_refunded_total(ctx: LedgerContext, donation_id: str) -> None:
    # Safe without a race: every writer of this donation's payments holds its row lock.
    total = select(func.coalesce(func.sum(Payment.amount_refunded), 0)).where(
        Payment.donation_id == donation_id
    )
    ctx.db.execute(
        update(Donation).where(Donation.id == donation_id).values(amount_refunded=total.scalar_subquery())
    )


def refund_status(payment: Payment) -> str:
    if payment.amount_refunded >= payment.amount:
        return DonationStatus.REFUNDED
    return DonationStatus.PARTIALLY_REFUNDED if payment.amount_refunded > 0 else DonationStatus.PAID


def on_charge_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    charge = event["data"]["object"]
    if charge.get("status") != "succeeded":
        # Declined cards leave the session open; failed bank debits arrive as session events.
        raise Ignore(f"charge_{str(charge.get('status'))[:20]}")
    pi = id_of(charge.get("payment_intent"))
    if not pi:
        raise Ignore("charge_without_payment_intent")
    donation, payment = _resolve(ctx, pi, charge)
    changed = False
    if payment is None:
        if donation.frequency == "monthly":
            raise Wait("charge_before_its_payment")
        try:
            check_amount(donation, charge.get("amount"), charge.get("currency"))
        except AmountMismatch as exc:
            raise Quarantine(exc.reason, donation.id) from None
        changed = upsert_payment(
            ctx.db, donation, kind="one_off", payment_intent_id=pi, amount=charge["amount"],
            currency=charge["currency"], charge_id=charge.get("id"), paid_at=timestamp(charge.get("created")),
        )  # fmt: skip
        payment = find_payment(ctx.db, payment_intent_id=pi)
        assert payment is not None
    changed |= merge_charge(ctx.db, ctx.gateway, payment, charge)
    payment = find_payment(ctx.db, payment_intent_id=pi)
    assert payment is not None
    sync_refunded_total(ctx, donation.id)
    if payment.kind == "one_off":
        changed |= advance_donation(ctx.db, donation.id, refund_status(payment), at=payment.paid_at)
    return Applied(donation.id, changed)


def _owner_from_stripe(
    ctx: LedgerContext, payment_intent_id: str | None, charge_id: str | None
) -> Donation | None:
    """A dispute can be reported before any event about its payment: ask Stripe whose charge it is."""
    if ctx.gateway is None or not payment_intent_id:
        return None
    try:
        charges = ctx.gateway.charges_for_payment_intent(payment_intent_id)
    except StripeGatewayError:
        return None
    for charge in charges:
        if charge.get("id") == charge_id and charge.get("metadata"):
            return our_donation(ctx, charge["metadata"])
    return None


def on_dispute_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    dispute = event["data"]["object"]
    charge_id, pi = id_of(dispute.get("charge")), id_of(dispute.get("payment_intent"))
    payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
    if payment is None:
        found = donation_by(ctx, stripe_payment_intent_id=pi) or _owner_from_stripe(ctx, pi, charge_id)
        if found is None:
            # A monthly gift's charge has no metadata: wait for its invoice.paid.
            raise Wait("dispute_before_its_payment")
        donation = _locked(ctx, found.id)
        upsert_payment(
            ctx.db, donation, kind="one_off", payment_intent_id=pi or "", amount=expected_amount(donation),
            currency=donation.currency, charge_id=charge_id,
        )  # fmt: skip
        payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
        assert payment is not None
    else:
        donation = _locked(ctx, payment.donation_id)
        # Read again under the lock: a dispute's created and closed events applied by two
        # workers at once must not let the one that waited write back an earlier step.
        payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
        assert payment is not None
    changed = merge_dispute(ctx.db, payment, dispute)
    target = DISPUTE_STATES.get(str(dispute.get("status")))
    if payment.kind == "one_off" and target is not None:
        changed |= advance_donation(ctx.db, donation.id, target, at=payment.paid_at)
    return Applied(donation.id, changed)


def on_refund_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    """A refund that failed (or was canceled) after Stripe reported it: lower the refunded amount.

    Refunds that succeed need nothing here: ``charge.refunded`` carries the cumulative figure.
    """
    refund = event["data"]["object"]
    if refund.get("status") not in ("failed", "canceled"):
        raise Ignore(f"refund_{str(refund.get('status'))[:20]}")
    charge_id, pi = id_of(refund.get("charge")), id_of(refund.get("payment_intent"))
    payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
    if payment is None or not charge_id:
        raise Wait("refund_before_its_payment")
    if ctx.gateway is None:
        raise Quarantine("refund_failure_needs_stripe", payment.donation_id)
    donation = _locked(ctx, payment.donation_id)
    payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
    assert payment is not None
    changed = recount_refunds(ctx.db, ctx.gateway, payment, charge_id)
    sync_refunded_total(ctx, donation.id)
    payment = find_payment(ctx.db, payment_intent_id=pi, charge_id=charge_id)
    assert payment is not None
    if changed and payment.kind == "one_off":
        # The state machine never leaves "refunded" (a refund is final in every other case);
        # a failed refund is the one way back, so the status is set from the money directly.
        ctx.db.execute(
            update(Donation)
            .where(
                Donation.id == donation.id,
                Donation.status.in_((DonationStatus.REFUNDED, DonationStatus.PARTIALLY_REFUNDED)),
            )
            .values(status=refund_status(payment))
        )
    return Applied(donation.id, changed)
