"""Payouts: record each payout and link the payments whose money it carried to the bank.

Only automatic payouts are itemised. A payout the account created itself (manual or instant,
``automatic`` false) is recorded with its amount, method and status, and never itemised: Stripe
refuses ``GET /v1/balance_transactions?payout=`` for it ("For automatic Stripe payouts only",
https://docs.stripe.com/api/balance_transactions/list; "You control the timing and amount of
manual payouts, so Stripe can't identify which transactions are included in each payout",
https://docs.stripe.com/payouts/reconciliation). Finance reconciles those against the balance
(docs/finance.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update

from ..db import insert_ignore
from ..models import Payment, Payout, Transfer, utcnow
from .apply_context import Applied, LedgerContext, Quarantine, id_of, timestamp

# A payout's status only moves forwards; a paid payout can still fail ("Some payouts that fail
# might initially show as paid", https://docs.stripe.com/payouts#payout-failures).
STATUS_RANK = {"pending": 0, "in_transit": 1, "paid": 2, "canceled": 2, "failed": 3}


def on_payout_event(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    payout = event["data"]["object"]
    payout_id = payout.get("id")
    if not isinstance(payout_id, str) or not payout_id.startswith("po_"):
        raise Quarantine("malformed_payout")
    changed = insert_ignore(
        ctx.db,
        Payout,
        {
            "stripe_payout_id": payout_id,
            "amount": payout["amount"],
            "currency": payout["currency"].lower(),
            "status": payout.get("status") or "pending",
            "automatic": payout.get("automatic") is not False,
            "method": str(payout.get("method") or "")[:16] or None,
            "reconciliation_status": payout.get("reconciliation_status"),
            "arrival_date": timestamp(payout.get("arrival_date")),
            "balance_transaction_id": id_of(payout.get("balance_transaction")),
            # A Connect webhook names the connected account whose payout this is.
            "account": str(event["account"])[:255] if event.get("account") else None,
            "stripe_created_at": timestamp(payout.get("created")),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
    )
    row = ctx.db.scalar(
        select(Payout)
        .where(Payout.stripe_payout_id == payout_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    values: dict[str, Any] = {}
    status = payout.get("status")
    if status and STATUS_RANK.get(status, 0) > STATUS_RANK.get(row.status, 0):
        values["status"] = status
    if payout.get("reconciliation_status") == "completed" and row.reconciliation_status != "completed":
        values["reconciliation_status"] = "completed"
    if values:
        ctx.db.execute(update(Payout).where(Payout.id == row.id).values(**values, updated_at=utcnow()))
        changed = True
    if (
        payout.get("status") == "paid" or payout.get("reconciliation_status") == "completed"
    ) and row.automatic:
        changed |= link_payments(ctx, row)
    return Applied(None, changed)


def link_payments(ctx: LedgerContext, payout: Payout) -> bool:
    """Ask Stripe which balance transactions the payout settled and point their payments at it."""
    if ctx.gateway is None or not payout.automatic:
        return False
    if payout.account:
        return _link_transfers(ctx, payout)
    # A StripeGatewayError propagates: the event is marked failed and Stripe (or replay) retries.
    transactions = ctx.gateway.payout_balance_transactions(payout.stripe_payout_id)
    changed = False
    for txn in transactions:
        if txn.get("type") not in ("charge", "payment"):
            continue
        source = id_of(txn.get("source"))
        result = ctx.db.execute(
            update(Payment)
            .where(
                or_(Payment.balance_transaction_id == txn["id"], Payment.stripe_charge_id == source),
                Payment.stripe_payout_id.is_(None),
            )
            .values(stripe_payout_id=payout.stripe_payout_id, updated_at=utcnow())
        )
        changed |= bool(result.rowcount)  # type: ignore[attr-defined]
    count = select(func.count()).where(Payment.stripe_payout_id == payout.stripe_payout_id).scalar_subquery()
    ctx.db.execute(update(Payout).where(Payout.id == payout.id).values(payment_count=count))
    return changed


def _link_transfers(ctx: LedgerContext, payout: Payout) -> bool:
    """A charity's own payout: point the transfers whose payments it carried at it.

    Its balance transactions are the connected account's, so they are listed with that account's
    ``Stripe-Account`` header; each transfer arrived there as a payment (``type=payment``, source
    ``py_...``, the transfer's ``destination_payment``).
    """
    assert ctx.gateway is not None
    transactions = ctx.gateway.payout_balance_transactions(payout.stripe_payout_id, payout.account)
    sources = [id_of(txn.get("source")) for txn in transactions if txn.get("type") == "payment"]
    changed = False
    if sources:
        result = ctx.db.execute(
            update(Transfer)
            .where(
                Transfer.destination_payment_id.in_([s for s in sources if s]),
                Transfer.destination_account == payout.account,
                Transfer.stripe_payout_id.is_(None),
            )
            .values(stripe_payout_id=payout.stripe_payout_id, updated_at=utcnow())
        )
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
    count = select(func.count()).where(Transfer.stripe_payout_id == payout.stripe_payout_id).scalar_subquery()
    ctx.db.execute(update(Payout).where(Payout.id == payout.id).values(payment_count=count))
    return changed
