"""What doesn't add up: the list finance works through before closing a period.

Each check is one small query; each finding names its kind, the donation or event, and why, so
the page and the API can show them together and a test can pin each kind on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ...donations.models import Donation, DonationStatus
from ...models import Payment, WebhookEvent, WebhookOutcome, utcnow
from .scope import Scope

KINDS = (
    "pending_past_expiry",
    "paid_without_fee",
    "amount_mismatch",
    "delivery_quarantined",
    "delivery_failed",
    "payment_missing_from_ledger",
    "event_waiting_for_payment",
)
# Stripe's events that announce money collected; each should have a payment row.
PAYMENT_EVENTS = ("charge.succeeded", "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded")
# Fees arrive with the charge's balance transaction, usually seconds after payment; give it a
# while before calling a missing fee a discrepancy.
FEE_GRACE = timedelta(hours=1)


def _scoped(query: Any, scope: Scope) -> Any:
    return query if scope.appeal_ids is None else query.where(scope.limit(Donation.appeal_id))


def pending_past_expiry(db: Session, scope: Scope, now: datetime, limit: int) -> list[dict[str, Any]]:
    no_event = ~exists().where(WebhookEvent.donation_id == Donation.id)
    query = select(Donation.id, Donation.status, Donation.checkout_expires_at, Donation.created_at).where(
        Donation.status.in_((DonationStatus.CREATED, DonationStatus.PENDING)),
        Donation.checkout_expires_at < now,
        no_event,
    )
    return [
        {"kind": "pending_past_expiry", "donation_id": r.id, "event_id": None, "at": r.checkout_expires_at,
         "detail": f"Still {r.status} after its Checkout Session expired, and Stripe sent no event about it."}
        for r in db.execute(_scoped(query, scope).order_by(Donation.checkout_expires_at).limit(limit))
    ]  # fmt: skip


def paid_without_fee(db: Session, scope: Scope, now: datetime, limit: int) -> list[dict[str, Any]]:
    query = (
        select(Payment.id, Payment.donation_id, Payment.paid_at, Payment.stripe_charge_id)
        .join(Donation, Donation.id == Payment.donation_id)
        .where(Payment.fee.is_(None), Payment.status == "succeeded", Payment.paid_at < now - FEE_GRACE)
    )
    return [
        {"kind": "paid_without_fee", "donation_id": r.donation_id, "event_id": None, "at": r.paid_at,
         "detail": f"Payment {r.stripe_charge_id or r.id} has no fee or net from Stripe yet."}
        for r in db.execute(_scoped(query, scope).order_by(Payment.paid_at).limit(limit))
    ]  # fmt: skip


def amount_mismatch(db: Session, scope: Scope, limit: int) -> list[dict[str, Any]]:
    # The donation's per-payment charge includes any fee cover the donor added (issue 6).
    expected = Donation.amount + getattr(Donation, "fee_cover_amount", 0)
    query = (
        select(Payment.donation_id, Payment.amount, Payment.currency, Payment.paid_at,
               Donation.amount.label("expected"), Donation.currency.label("expected_currency"))
        .join(Donation, Donation.id == Payment.donation_id)
        .where(or_(Payment.currency != Donation.currency, Payment.amount != expected))
    )  # fmt: skip
    found = [
        {"kind": "amount_mismatch", "donation_id": r.donation_id, "event_id": None, "at": r.paid_at,
         "detail": f"Stripe collected {r.amount} {r.currency}; the donation was for {r.expected} "
                   f"{r.expected_currency} (minor units)."}
        for r in db.execute(_scoped(query, scope).limit(limit))
    ]  # fmt: skip
    flagged = select(Donation.id, Donation.attention_reason, Donation.updated_at).where(
        Donation.needs_attention.is_(True), Donation.attention_reason.contains("mismatch")
    )
    found += [
        {"kind": "amount_mismatch", "donation_id": r.id, "event_id": None, "at": r.updated_at,
         "detail": r.attention_reason}
        for r in db.execute(_scoped(flagged, scope).limit(limit))
        if r.id not in {f["donation_id"] for f in found}
    ]  # fmt: skip
    return found


def bad_deliveries(db: Session, scope: Scope, outcome: str, limit: int) -> list[dict[str, Any]]:
    query = select(
        WebhookEvent.stripe_event_id, WebhookEvent.type, WebhookEvent.donation_id,
        WebhookEvent.outcome_reason, WebhookEvent.received_at,
    ).where(WebhookEvent.outcome == outcome)  # fmt: skip
    if scope.appeal_ids is not None:
        query = query.join(Donation, Donation.id == WebhookEvent.donation_id)
    kind = "delivery_quarantined" if outcome == WebhookOutcome.QUARANTINED else "delivery_failed"
    return [
        {"kind": kind, "donation_id": r.donation_id, "event_id": r.stripe_event_id, "at": r.received_at,
         "detail": f"{r.type}: {r.outcome_reason or outcome}"}
        for r in db.execute(_scoped(query, scope).order_by(WebhookEvent.received_at.desc()).limit(limit))
    ]  # fmt: skip


def payments_missing(db: Session, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """Payments Stripe announced (by webhook or by the last ``sync-events``) with no payment row."""
    known = exists().where(
        or_(
            Payment.stripe_payment_intent_id == WebhookEvent.object_id,
            Payment.stripe_charge_id == WebhookEvent.object_id,
            Payment.stripe_invoice_id == WebhookEvent.object_id,
        )
    )
    query = select(
        WebhookEvent.stripe_event_id, WebhookEvent.type, WebhookEvent.object_id, WebhookEvent.source,
        WebhookEvent.donation_id, WebhookEvent.received_at,
    ).where(and_(WebhookEvent.type.in_(PAYMENT_EVENTS), WebhookEvent.object_id.is_not(None), ~known))  # fmt: skip
    if scope.appeal_ids is not None:
        query = query.join(Donation, Donation.id == WebhookEvent.donation_id)
    return [
        {"kind": "payment_missing_from_ledger", "donation_id": r.donation_id, "event_id": r.stripe_event_id,
         "at": r.received_at, "detail": f"Stripe reported {r.type} for {r.object_id} (via {r.source}); "
                                        "the ledger has no payment for it."}
        for r in db.execute(_scoped(query, scope).order_by(WebhookEvent.received_at.desc()).limit(limit))
    ]  # fmt: skip


def events_waiting(db: Session, scope: Scope, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Events kept until their payment arrives (a refund or charge before it, on a charge without
    metadata), still waiting after the grace a webhook normally needs."""
    query = select(
        WebhookEvent.stripe_event_id, WebhookEvent.type, WebhookEvent.object_id, WebhookEvent.donation_id,
        WebhookEvent.outcome_reason, WebhookEvent.received_at,
    ).where(WebhookEvent.outcome == WebhookOutcome.WAITING, WebhookEvent.received_at < now - FEE_GRACE)  # fmt: skip
    if scope.appeal_ids is not None:
        # Not yet matched to a donation, so not to an appeal either: only finance with every appeal sees them.
        return []
    return [
        {"kind": "event_waiting_for_payment", "donation_id": r.donation_id, "event_id": r.stripe_event_id,
         "at": r.received_at, "detail": f"{r.type} for {r.object_id} is kept until its payment is in the "
                                        f"ledger ({r.outcome_reason}); run `flask stripe sync-events` if it stays."}
        for r in db.execute(query.order_by(WebhookEvent.received_at).limit(limit))
    ]  # fmt: skip


def find_all(db: Session, scope: Scope, now: datetime | None = None, limit: int = 200) -> dict[str, Any]:
    """Every kind, up to ``limit`` findings each, with a count per kind."""
    moment = now or utcnow()
    findings = (
        pending_past_expiry(db, scope, moment, limit)
        + paid_without_fee(db, scope, moment, limit)
        + amount_mismatch(db, scope, limit)
        + bad_deliveries(db, scope, WebhookOutcome.QUARANTINED, limit)
        + bad_deliveries(db, scope, WebhookOutcome.FAILED, limit)
        + payments_missing(db, scope, limit)
        + events_waiting(db, scope, moment, limit)
    )
    counts = {kind: sum(1 for f in findings if f["kind"] == kind) for kind in KINDS}
    return {"counts": counts, "items": findings, "checked_at": moment}
