"""Payment rows: one per payment intent, merged from whichever event or lookup arrives first.

Every write here is monotonic (a field fills once, a cumulative refund only grows, a closed
dispute stays closed), so the same facts applied twice, or in another order, give one result.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from ..db import insert_ignore, insert_ignore_returning_id
from ..donations.models import Donation
from ..matching.ledger import settle_donation
from ..models import Payment, Transfer, utcnow
from ..stripe_gateway import StripeGatewayError
from .apply_context import StripeReader, id_of, timestamp

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


def dispute_may_become(dispute_id: Any, reported: str) -> Any:
    """The rows whose dispute may move to ``reported``, checked by the UPDATE itself.

    Two deliveries of one dispute (``created`` and ``closed``) can be applied by two workers at
    once; each read the payment before the other committed. Putting the step rule in the UPDATE's
    WHERE makes PostgreSQL re-check it against the committed row, so the later step always wins.
    """
    earlier = [s for s in DISPUTE_PROGRESS if dispute_moves_forward(s, reported)]
    return (
        Payment.dispute_status.is_(None)
        | (Payment.dispute_id.is_(None))
        | (Payment.dispute_id != dispute_id)
        | Payment.dispute_status.in_(earlier)
        | Payment.dispute_status.not_in(list(DISPUTE_PROGRESS))
    ) & (Payment.dispute_status.is_(None) | Payment.dispute_status.not_in(FINAL_DISPUTE))


def dispute_fee(dispute: dict[str, Any]) -> int | None:
    """Stripe's dispute fees net of those given back, from ``dispute.balance_transactions``
    (Stripe embeds them: a withdrawal with the fee, a reinstatement returning it if won)."""
    txns = [t for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)]
    if not txns:
        return None
    return sum(int(t.get("fee") or 0) for t in txns)


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
    """Create the payment for ``payment_intent_id`` or fill in what it lacks; True if anything changed.

    A new payment queues its receipt in the same transaction (service/outbox.py), keyed by the
    payment intent, so however many events report the payment the donor gets one receipt.
    """
    inserted_id = insert_ignore_returning_id(
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
    if inserted_id is not None:
        from ..outbox import queue

        queue(db, f"receipt:{payment_intent_id}", "receipt", donation_id=donation.id, payment_id=inserted_id)
        # A payment recorded paid: match funding decides it now, in this transaction.
        settle_donation(db, donation.id)
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
    """Fold a charge's facts into its payment: id, cumulative refunds, fee and net (and the bank
    mandate a debit ran on, for the donation: service/ledger/apply_mandates.py)."""
    changed = remember_mandate(db, payment.donation_id, charge)
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
    refunds_moved = "amount_refunded" in values
    if values:
        db.execute(update(Payment).where(Payment.id == payment.id).values(**values, updated_at=utcnow()))
        changed = True
        if "amount_refunded" in values:
            settle_donation(db, payment.donation_id)  # a refund lowers (or removes) the match
    txn = charge.get("balance_transaction")
    if isinstance(txn, str) and payment.balance_transaction_id is None and gateway is not None:
        # The event carried only the id; the fee and net live on the transaction itself.
        try:
            txn = gateway.retrieve_balance_transaction(txn)
        except StripeGatewayError as exc:
            log.warning("balance_transaction_fetch_failed", extra={"kind": exc.kind, "payment": payment.id})
            txn = None
    recorded = False
    if isinstance(txn, dict):
        recorded = record_balance_transaction(db, payment, txn)
        changed |= recorded
    changed |= record_transfer(db, gateway, payment, charge)
    if refunds_moved or (recorded and isinstance(refunded, int) and refunded > 0):
        changed |= sync_settlement_refunds(db, gateway, payment.id, charge.get("id"))
    return changed


def charge_mandate(charge: dict[str, Any]) -> str | None:
    """The mandate a Bacs or SEPA debit ran on (``payment_method_details.<type>.mandate``)."""
    details = charge.get("payment_method_details") or {}
    mandate = (details.get(details.get("type") or "") or {}).get("mandate")
    return mandate if isinstance(mandate, str) and mandate else None


def remember_mandate(db: Session, donation_id: str, charge: dict[str, Any]) -> bool:
    """Keep the mandate a debit of this donation ran on: its ``mandate.updated`` events find the
    gift by it. A debit that was paid ran on an active mandate; a newer mandate (the donor moved
    the gift to another account) replaces the old one, and a later event changes the state."""
    mandate = charge_mandate(charge)
    if mandate is None or charge.get("status") != "succeeded":
        return False
    result = db.execute(
        update(Donation)
        .where(Donation.id == donation_id, Donation.stripe_mandate_id.is_distinct_from(mandate))
        .values(stripe_mandate_id=mandate, mandate_status="active", mandate_status_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_transfer(
    db: Session, gateway: StripeReader | None, payment: Payment, charge: dict[str, Any]
) -> bool:
    """A destination charge's transfer to the charity, in its own row (Connect).

    The charge names it in ``transfer`` (an id unless expanded); the amount, the charity's account
    and the payment it made there come from the transfer itself. Later facts (a reversal) update it.
    """
    transfer = charge.get("transfer")
    transfer_id = id_of(transfer)
    if not transfer_id:
        return False
    existing = db.scalar(select(Transfer).where(Transfer.stripe_transfer_id == transfer_id))
    if not isinstance(transfer, dict):
        if existing is not None and charge.get("amount_refunded", 0) == 0 and not charge.get("disputed"):
            return False  # nothing about the charge could have reversed it
        if gateway is None:
            return False
        try:
            transfer = gateway.retrieve_transfer(transfer_id)
        except StripeGatewayError as exc:
            # Not fatal: the next event about the charge, or sync-events, asks again.
            log.warning("transfer_fetch_failed", extra={"kind": exc.kind, "payment": payment.id})
            return False
    reversed_amount = int(transfer.get("amount_reversed") or 0)
    if existing is not None:
        if reversed_amount <= existing.amount_reversed:
            return False
        db.execute(
            update(Transfer)
            .where(Transfer.id == existing.id)
            .values(amount_reversed=reversed_amount, updated_at=utcnow())
        )
        return True
    return insert_ignore(
        db,
        Transfer,
        {
            "donation_id": payment.donation_id,
            "payment_id": payment.id,
            "stripe_transfer_id": transfer_id,
            "destination_account": str(id_of(transfer.get("destination")) or ""),
            "destination_payment_id": id_of(transfer.get("destination_payment")),
            "amount": int(transfer["amount"]),
            "currency": str(transfer["currency"]).lower(),
            "amount_reversed": reversed_amount,
            "transferred_at": timestamp(transfer.get("created")),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
    )


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
    if live != payment.amount_refunded:
        settle_donation(db, payment.donation_id)  # a refund counted again: the match follows it down
    return True


def record_balance_transaction(db: Session, payment: Payment, txn: dict[str, Any]) -> bool:
    if payment.balance_transaction_id is not None or not txn.get("id"):
        return False
    result = db.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.balance_transaction_id.is_(None))
        .values(
            balance_transaction_id=txn["id"],
            # All three in settlement_currency: converted by Stripe when the charge's currency is
            # not one the account settles in (txn.exchange_rate is then set).
            settlement_amount=txn.get("amount"),
            fee=txn.get("fee"),
            net=txn.get("net"),
            settlement_currency=(txn.get("currency") or "").lower() or None,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sync_settlement_refunds(
    db: Session, gateway: StripeReader | None, payment_id: int, charge_id: str | None
) -> bool:
    """What the payment's refunds took from the balance, in its settlement currency.

    Unconverted, that is the refunded amount itself. Converted, Stripe converts each refund at
    the rate of its own day (https://docs.stripe.com/currencies/disputes-refunds), so only the
    refunds' balance transactions know it: they are asked for, and a failure leaves the old
    figure for the next refund event or `flask stripe sync-events` to correct.
    """
    payment = db.scalar(
        select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    )
    if payment is None or payment.settlement_currency is None:
        return False
    if payment.settlement_currency == payment.currency:
        total = payment.amount_refunded
    else:
        charge_id = charge_id or payment.stripe_charge_id
        if gateway is None or not charge_id:
            return False
        try:
            refunds = gateway.refunds_for_charge(charge_id)
        except StripeGatewayError as exc:
            log.warning("refund_fetch_failed", extra={"kind": exc.kind, "payment": payment.id})
            return False
        total = 0
        for refund in refunds:
            txn = refund.get("balance_transaction")
            if (
                refund.get("status") in ("succeeded", "pending")
                and isinstance(txn, dict)
                and str(txn.get("currency", "")).lower() == payment.settlement_currency
            ):
                total -= int(txn.get("amount") or 0)
    if total == payment.settlement_refunded:
        return False
    db.execute(
        update(Payment).where(Payment.id == payment.id).values(settlement_refunded=total, updated_at=utcnow())
    )
    return True


def dispute_settlement(dispute: dict[str, Any]) -> int | None:
    """Withdrawn less reinstated, in the settlement currency, from the dispute's own balance
    transactions (converted by Stripe at each one's day); None when the event does not list them."""
    transactions = dispute.get("balance_transactions")
    if not isinstance(transactions, list) or not all(isinstance(t, dict) for t in transactions):
        return None
    return -sum(int(t.get("amount") or 0) for t in transactions)


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
    withdrawn = dispute_settlement(dispute)
    settled = False
    if withdrawn is not None and payment.dispute_id in (None, dispute.get("id")):
        # More balance transactions is later news: a reinstatement follows the withdrawal, so a
        # late withdrawal-only snapshot never undoes a dispute already won back.
        count = len(dispute["balance_transactions"])
        if payment.settlement_disputed != withdrawn and (
            count >= 2 or (count == 1 and payment.dispute_status != "won")
        ):
            db.execute(
                update(Payment)
                .where(Payment.id == payment.id)
                .values(settlement_disputed=withdrawn, updated_at=utcnow())
            )
            settled = True
    fee = dispute_fee(dispute)
    same = payment.dispute_id == dispute.get("id")
    if same and not dispute_moves_forward(payment.dispute_status, status):
        # Same step, but the first event to carry the withdrawal's fee fills it in.
        if payment.dispute_status == status and fee is not None and payment.dispute_fee is None:
            db.execute(
                update(Payment).where(Payment.id == payment.id).values(dispute_fee=fee, updated_at=utcnow())
            )
            return True
        return settled
    values: dict[str, Any] = {"dispute_id": dispute.get("id"), "dispute_status": status,
                              "dispute_amount": dispute.get("amount"), "updated_at": utcnow()}  # fmt: skip
    if fee is not None:
        values["dispute_fee"] = fee
    result = db.execute(
        update(Payment)
        .where(Payment.id == payment.id, dispute_may_become(dispute.get("id"), status))
        .values(**values)
    )
    if settled or result.rowcount:  # type: ignore[attr-defined]
        settle_donation(db, payment.donation_id)  # a lost dispute un-matches the gift
    return settled or bool(result.rowcount)  # type: ignore[attr-defined]
