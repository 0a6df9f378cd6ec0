"""Monthly gifts: each paid invoice is its own payment; failures and cancellations are recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm.attributes import set_committed_value

from ..cancellations import cancelled_by
from ..donations.models import Donation, DonationStatus
from ..donations.states import (
    AmountMismatch,
    advance_donation,
    check_amount,
    lock_donation,
    remember_email,
)
from ..manage import follow_amount_change
from ..models import utcnow
from ..outbox import queue
from ..stripe_gateway import StripeGatewayError
from .apply_charges import sync_refunded_total
from .apply_context import (
    Applied,
    Ignore,
    LedgerContext,
    Quarantine,
    donation_by,
    id_of,
    our_donation,
    timestamp,
)
from .payments import fetch_missing_charge, find_payment, upsert_payment

ENDED = ("canceled", "incomplete_expired")


def _subscription_donation(
    ctx: LedgerContext, subscription_id: str | None, metadata: dict[str, Any], customer_id: str | None = None
) -> Donation:
    if not metadata:
        found = donation_by(ctx, stripe_subscription_id=subscription_id)
        if found is None:
            raise Quarantine("no_deployment_metadata")
        metadata = {"deployment": ctx.settings.deployment_id, "donation_id": found.id}
    donation = our_donation(ctx, metadata)
    locked = lock_donation(ctx.db, donation.id)
    assert locked is not None
    if subscription_id and locked.stripe_subscription_id is None:
        ctx.db.execute(
            update(Donation).where(Donation.id == locked.id).values(stripe_subscription_id=subscription_id)
        )
        set_committed_value(locked, "stripe_subscription_id", subscription_id)
    if customer_id and locked.stripe_customer_id is None:
        # An invoice may come before checkout.session.completed: the receipt's manage link needs both ids.
        ctx.db.execute(
            update(Donation).where(Donation.id == locked.id).values(stripe_customer_id=customer_id)
        )
        set_committed_value(locked, "stripe_customer_id", customer_id)
    return locked


def invoice_subscription(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    # API 2026-10-28 keeps these under parent.subscription_details; older versions had them on top.
    details = (
        (invoice.get("parent") or {}).get("subscription_details") or invoice.get("subscription_details") or {}
    )
    subscription = details.get("subscription") or invoice.get("subscription")
    return id_of(subscription), dict(details.get("metadata") or {})


def paid_intent(invoice_payments: list[dict[str, Any]]) -> str | None:
    """The PaymentIntent that paid an invoice, from its InvoicePayment objects."""
    paid = [p for p in invoice_payments if p.get("status") == "paid"] or invoice_payments
    for entry in paid:
        payment = entry.get("payment") or {}
        if payment.get("type") == "payment_intent" and payment.get("payment_intent"):
            return id_of(payment["payment_intent"])
    return None


def invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The paying PaymentIntent when the payload says it: ``payments`` only when it was expanded
    (live webhooks leave it out), top-level ``payment_intent`` only before API 2025-03-31."""
    payments = ((invoice.get("payments") or {}).get("data")) or []
    return paid_intent(payments) or id_of(invoice.get("payment_intent"))


def payment_intent_from_stripe(ctx: LedgerContext, invoice_id: str | None) -> str | None:
    """Ask the Invoice Payments API which PaymentIntent paid the invoice.

    A StripeGatewayError propagates: the event is marked failed and retried (by Stripe, replay or
    `flask stripe sync-events`) rather than quarantined for a passing outage.
    """
    if ctx.gateway is None or not invoice_id:
        return None
    return paid_intent(ctx.gateway.invoice_payments(invoice_id))


def set_subscription_status(ctx: LedgerContext, donation_id: str, status: str, at: datetime | None) -> bool:
    """Latest event wins, except that nothing replaces an ended subscription."""
    conditions = [Donation.subscription_status.is_(None)]
    if status in ENDED:
        conditions.append(Donation.subscription_status.not_in(ENDED))
    elif at is not None:
        conditions.append(
            (Donation.subscription_status.not_in(ENDED))
            & (Donation.subscription_status_at.is_(None) | (Donation.subscription_status_at <= at))
        )
    result = ctx.db.execute(
        update(Donation)
        .where(
            Donation.id == donation_id,
            Donation.subscription_status.is_distinct_from(status),
            or_(*conditions),
        )
        .values(subscription_status=status, subscription_status_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _current_status(ctx: LedgerContext, subscription_id: str | None) -> tuple[str, datetime] | None:
    if ctx.gateway is None or not subscription_id:
        return None
    try:
        current = ctx.gateway.retrieve_subscription(subscription_id)
    except StripeGatewayError:
        return None  # the event's own status, by its timestamp, is the next best thing
    return str(current.get("status")), utcnow()


def on_invoice_paid(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    invoice = event["data"]["object"]
    subscription_id, metadata = invoice_subscription(invoice)
    if not subscription_id:
        raise Ignore("invoice_without_subscription")
    donation = _subscription_donation(ctx, subscription_id, metadata, id_of(invoice.get("customer")))
    try:
        check_amount(donation, invoice.get("amount_paid"), invoice.get("currency"))
    except AmountMismatch as exc:
        raise Quarantine(exc.reason, donation.id) from None
    payment_intent = invoice_payment_intent(invoice) or payment_intent_from_stripe(ctx, invoice.get("id"))
    if not payment_intent:
        raise Quarantine("invoice_without_payment", donation.id)
    if invoice.get("customer_email"):
        remember_email(ctx.db, donation.id, str(invoice["customer_email"]))
    paid_at = timestamp((invoice.get("status_transitions") or {}).get("paid_at")) or timestamp(
        event.get("created")
    )
    changed = upsert_payment(
        ctx.db, donation, kind="invoice", payment_intent_id=payment_intent, amount=invoice["amount_paid"],
        currency=invoice["currency"], invoice_id=invoice.get("id"), subscription_id=subscription_id,
        paid_at=paid_at,
    )  # fmt: skip
    payment = find_payment(ctx.db, payment_intent_id=payment_intent)
    assert payment is not None
    # The charge's events may have come first and been set aside; its fee is fetched now.
    changed |= fetch_missing_charge(ctx.db, ctx.gateway, payment)
    sync_refunded_total(ctx, donation.id)
    changed |= advance_donation(ctx.db, donation.id, DonationStatus.PAID, at=paid_at)
    return Applied(donation.id, changed)


def on_invoice_payment_failed(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    invoice = event["data"]["object"]
    subscription_id, metadata = invoice_subscription(invoice)
    if not subscription_id:
        raise Ignore("invoice_without_subscription")
    donation = _subscription_donation(ctx, subscription_id, metadata, id_of(invoice.get("customer")))
    if invoice.get("billing_reason") == "subscription_create" and donation.paid_at is None:
        # The first invoice's bank debit was refused: the subscription is incomplete, not past
        # due, and ends incomplete_expired (on_subscription_event); the session's
        # async_payment_failed tells the donor. Nothing to retry, no "update your card" email.
        return Applied(donation.id, False)
    # Stripe retries the invoice and reports the subscription past_due; the stored event is
    # the donation's record of the failed attempt.
    changed = set_subscription_status(ctx, donation.id, "past_due", timestamp(event.get("created")))
    # One "update your card" email per failed attempt (Stripe retries a few times, each its own
    # event); a redelivery of the same attempt finds the message already queued.
    attempt = invoice.get("attempt_count") or 1
    if not invoice.get("next_payment_attempt"):
        # Stripe will not try again: the subscription's end (and its email) follows instead.
        return Applied(donation.id, changed)
    changed |= queue(
        ctx.db, f"payment_failed:{invoice.get('id')}:{attempt}", "payment_failed",
        donation_id=donation.id,
        context={"amount": invoice.get("amount_due"), "currency": invoice.get("currency"),
                 "next_attempt": invoice.get("next_payment_attempt")},
    )  # fmt: skip
    return Applied(donation.id, changed)


def on_subscription_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    subscription = event["data"]["object"]
    donation = _subscription_donation(
        ctx,
        subscription.get("id"),
        dict(subscription.get("metadata") or {}),
        id_of(subscription.get("customer")),
    )
    status, at = str(subscription.get("status")), timestamp(event.get("created"))
    if event["type"] == "customer.subscription.deleted":
        status = status if status in ENDED else "canceled"
    else:
        # Several updates share one second and arrive in any order: ask Stripe for the status now.
        status, at = _current_status(ctx, subscription.get("id")) or (status, at)
    changed = set_subscription_status(ctx, donation.id, status, at)
    if status == "incomplete_expired" and donation.paid_at is None:
        # The first payment never arrived, so the gift never started: no "gift cancelled" email.
        # When it was a bank debit, refused days after Checkout, the gift is failed and the donor
        # gets the debit's one email.
        if donation.status in (DonationStatus.PROCESSING, DonationStatus.FAILED):
            changed |= _first_debit_refused(ctx, donation)
    elif status in ENDED:
        changed |= advance_donation(ctx.db, donation.id, DonationStatus.CANCELLED)
        changed |= _record_cancellation(ctx, donation, subscription)
    elif status == "active":
        changed |= follow_amount_change(ctx.db, donation, subscription)
    return Applied(donation.id, changed)


def _first_debit_refused(ctx: LedgerContext, donation: Donation) -> bool:
    """A monthly gift whose first debit the bank refused (its subscription ``incomplete_expired``).

    The session's ``checkout.session.async_payment_failed`` says the same (apply_checkout.py);
    whichever arrives first fails the gift, and both queue the one email under the same key.
    """
    changed = advance_donation(ctx.db, donation.id, DonationStatus.FAILED)
    if donation.stripe_checkout_session_id:
        changed |= queue(
            ctx.db, f"debit_failed:{donation.stripe_checkout_session_id}", "debit_failed",
            donation_id=donation.id, context={"amount": donation.charge_amount},
        )  # fmt: skip
    return changed


def _record_cancellation(ctx: LedgerContext, donation: Donation, subscription: dict[str, Any]) -> bool:
    """Keep why the gift stopped and queue the donor's confirmation (once per subscription)."""
    details = subscription.get("cancellation_details") or {}
    feedback, comment = details.get("feedback"), details.get("comment")
    if (
        (feedback or comment)
        and donation.cancellation_feedback is None
        and donation.cancellation_comment is None
    ):
        ctx.db.execute(
            update(Donation)
            .where(Donation.id == donation.id)
            .values(cancellation_feedback=str(feedback)[:32] if feedback else None,
                    cancellation_comment=str(comment)[:500] if comment else None)
        )  # fmt: skip
    # Who stopped it and when, once (the first report of the end wins; finance's cancellations list).
    ctx.db.execute(
        update(Donation)
        .where(Donation.id == donation.id, Donation.cancelled_by.is_(None))
        .values(
            cancelled_by=cancelled_by(subscription, donation.portal_cancel_opened_at),
            cancelled_at=timestamp(subscription.get("canceled_at"))
            or timestamp(subscription.get("ended_at"))
            or utcnow(),
        )
    )
    return queue(
        ctx.db, f"gift_cancelled:{subscription.get('id')}", "gift_cancelled", donation_id=donation.id
    )
