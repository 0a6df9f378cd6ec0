"""Payment rows: one per payment intent, merged from whichever event or lookup arrives first.

Every write here is monotonic (a field fills once, a cumulative refund only grows, a closed
dispute stays closed), so the same facts applied twice, or in another order, give one result.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import Donation, Payment, utcnow
from ..stripe_gateway import StripeGatewayError
from .context import StripeReader

log = logging.getLogger(__name__)

# Every dispute status stripe-python 16.1 lists (stripe/_dispute.py). An inquiry (warning_*) may
# escalate to a formal dispute, evidence puts it under review, and it closes won, lost,
# warning_closed or prevented. A lost dispute may be appealed (appeal_*) and then won or lost
# again. A late event about an earlier step never undoes a later one.
FINAL_DISPUTE = ("won", "warning_closed", "prevented")
DISPUTE_PROGRESS = {"warning_needs_response": 0, "warning_under_review": 1, "needs_response": 2,
                    "under_review": 3, "lost": 4, "warning_closed": 4, "prevented": 4,
                    "appeal_needs_response": 5, "appeal_under_review": 6, "won": 7}  # fmt: skip
APPEAL = ("appeal_needs_response", "appeal_under_review")


def dispute_moves_forward(current: str | None, reported: str) -> bool:
    """True if ``reported`` is a later step than ``current`` for the same dispute."""
    if current is None:
        return True
    if current == reported or current in FINAL_DISPUTE:
        return False
    if current in APPEAL and reported == "lost":
        return True  # the appeal was lost
    now, then = DISPUTE_PROGRESS.get(current), DISPUTE_PROGRESS.get(reported)
    if now is None or then is None:
        return then is not None or now is None  # an unknown status never hides a known one
    return then > now


def dispute_fee(dispute: dict[str, Any]) -> int | None:
    """Stripe's dispute fees net of those given back, from ``dispute.balance_transactions``
    (Stripe embeds them: a withdrawal with the fee, a reinstatement returning it if won)."""
    txns = [t for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)]
    if not txns:
        return None
    return sum(int(t.get("fee") or 0) for t in txns)


@cache
def _insert_ignoring_conflicts(dialect: str, table: Table) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING rather than rowcount: drivers disagree on rowcount when the insert did nothing.
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def insert_ignore(db: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row was inserted.

    A Core statement built once per table (the columns are the keys of ``values``): building an
    ORM insert per call cost a webhook more CPU than PostgreSQL spent on it.
    """
    statement = _insert_ignoring_conflicts(db.get_bind().dialect.name, model.__table__)  # type: ignore[attr-defined]
    return db.connection().execute(statement, values).first() is not None


def find_payment(
    db: Session, *, payment_intent_id: str | None = None, charge_id: str | None = None
) -> Payment | None:
    for column, value in (
        (Payment.stripe_payment_intent_id, payment_intent_id),
        (Payment.stripe_charge_id, charge_id),
    ):
        if value:
            found = db.scalar(
                select(Payment).where(column == value).execution_options(populate_existing=True)
            )
            if found is not None:
                return found
    return None


def upsert_payment(
    db: Session,
    donation: Donation,
    *,
    kind: str,
    payment_intent_id: str,
    amount: int,
    currency: str,
    charge_id: str | None = None,
    invoice_id: str | None = None,
    subscription_id: str | None = None,
    paid_at: datetime | None = None,
) -> bool:
    """Create the payment for ``payment_intent_id`` or fill in what it lacks; True if anything changed."""
    inserted = insert_ignore(
        db,
        Payment,
        {
            "donation_id": donation.id,
            "kind": kind,
            "stripe_payment_intent_id": payment_intent_id,
            "stripe_charge_id": charge_id,
            "stripe_invoice_id": invoice_id,
            "stripe_subscription_id": subscription_id,
            "amount": amount,
            "currency": currency.lower(),
            "paid_at": paid_at or utcnow(),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
    )
    if inserted:
        return True
    payment = find_payment(db, payment_intent_id=payment_intent_id)
    if payment is None:  # the charge id or invoice id already belongs to another row
        log.warning("payment_key_conflict", extra={"payment_intent": payment_intent_id})
        return False
    fill = {
        column: value
        for column, value in (
            ("stripe_charge_id", charge_id),
            ("stripe_invoice_id", invoice_id),
            ("stripe_subscription_id", subscription_id),
        )
        if value and getattr(payment, column) is None
    }
    if fill:
        db.execute(update(Payment).where(Payment.id == payment.id).values(**fill, updated_at=utcnow()))
    return bool(fill)


def merge_charge(db: Session, gateway: StripeReader | None, payment: Payment, charge: dict[str, Any]) -> bool:
    """Fold a charge's facts into its payment: id, cumulative refunds, fee and net."""
    changed = False
    values: dict[str, Any] = {}
    if payment.stripe_charge_id is None and charge.get("id"):
        values["stripe_charge_id"] = charge["id"]
    refunded = charge.get("amount_refunded")
    if payment.amount_refund_failed and gateway is not None and charge.get("id"):
        # After a failed refund the charge's cumulative figure may be stale or lowered: recount.
        changed |= recount_refunds(db, gateway, payment, charge["id"])
    elif isinstance(refunded, int) and refunded > payment.amount_refunded:
        # Stripe's cumulative figure; the CASE keeps a concurrent larger value (never a sum).
        values["amount_refunded"] = case(
            (Payment.amount_refunded < refunded, refunded), else_=Payment.amount_refunded
        )
    if values:
        db.execute(update(Payment).where(Payment.id == payment.id).values(**values, updated_at=utcnow()))
        changed = True
    txn = charge.get("balance_transaction")
    if isinstance(txn, str) and payment.balance_transaction_id is None and gateway is not None:
        # The event carried only the id; the fee and net live on the transaction itself.
        try:
            txn = gateway.retrieve_balance_transaction(txn)
        except StripeGatewayError as exc:
            log.warning("balance_transaction_fetch_failed", extra={"kind": exc.kind, "payment": payment.id})
            txn = None
    if isinstance(txn, dict):
        changed |= record_balance_transaction(db, payment, txn)
    return changed


LIVE_REFUND = ("succeeded", "pending", "requires_action")


def recount_refunds(db: Session, gateway: StripeReader, payment: Payment, charge_id: str) -> bool:
    """Set the payment's refunded and failed-refund totals from Stripe's refunds of the charge.

    A refund can fail after ``charge.refunded`` reported it (https://docs.stripe.com/refunds#failed-refunds):
    the money returns to the balance and the refunded amount goes down, which the cumulative
    ``charge.amount_refunded`` rule (only ever grow) cannot express. Stripe's list is the truth, so
    recounting gives one result whichever of refund.failed / charge.refund.updated / charge.refunded
    arrives first or twice. A StripeGatewayError propagates: the event is retried.
    """
    refunds = gateway.refunds_for_charge(charge_id)
    live = sum(int(r.get("amount") or 0) for r in refunds if r.get("status") in LIVE_REFUND)
    failed = sum(int(r.get("amount") or 0) for r in refunds if r.get("status") == "failed")
    if (live, failed) == (payment.amount_refunded, payment.amount_refund_failed):
        return False
    db.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(amount_refunded=live, amount_refund_failed=failed, updated_at=utcnow())
    )
    return True


def record_balance_transaction(db: Session, payment: Payment, txn: dict[str, Any]) -> bool:
    if payment.balance_transaction_id is not None or not txn.get("id"):
        return False
    result = db.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.balance_transaction_id.is_(None))
        .values(
            balance_transaction_id=txn["id"],
            fee=txn.get("fee"),
            net=txn.get("net"),
            settlement_currency=(txn.get("currency") or "").lower() or None,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fetch_missing_charge(db: Session, gateway: StripeReader | None, payment: Payment) -> bool:
    """Ask Stripe for the payment's charge when no event has told us its id or fee yet."""
    if gateway is None or not payment.stripe_payment_intent_id:
        return False
    if payment.stripe_charge_id and payment.balance_transaction_id:
        return False
    try:
        charges = gateway.charges_for_payment_intent(payment.stripe_payment_intent_id)
    except StripeGatewayError as exc:
        # Not fatal: charge.updated or `flask stripe sync-events` fills it in later.
        log.warning("charge_fetch_failed", extra={"kind": exc.kind, "payment": payment.id})
        return False
    succeeded = [c for c in charges if c.get("status") == "succeeded"]
    if not succeeded:
        return False
    return merge_charge(db, gateway, payment, succeeded[0])


def merge_dispute(db: Session, payment: Payment, dispute: dict[str, Any]) -> bool:
    """Record the dispute and its fees on its payment; a late event never moves it back."""
    status = dispute.get("status")
    if not isinstance(status, str):
        return False
    fee = dispute_fee(dispute)
    same = payment.dispute_id == dispute.get("id")
    if same and not dispute_moves_forward(payment.dispute_status, status):
        # Same step, but the first event to carry the withdrawal's fee fills it in.
        if payment.dispute_status == status and fee is not None and payment.dispute_fee is None:
            db.execute(
                update(Payment).where(Payment.id == payment.id).values(dispute_fee=fee, updated_at=utcnow())
            )
            return True
        return False
    values: dict[str, Any] = {"dispute_id": dispute.get("id"), "dispute_status": status,
                              "dispute_amount": dispute.get("amount"), "updated_at": utcnow()}  # fmt: skip
    if fee is not None:
        values["dispute_fee"] = fee
    result = db.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            (Payment.dispute_status.is_(None)) | (Payment.dispute_status.not_in(FINAL_DISPUTE)),
        )
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
