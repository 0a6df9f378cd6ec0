"""Bank payouts: what each carried, and whether Stripe's transactions and the ledger agree.

The list reads the ledger only. One payout's detail also asks Stripe for the balance
transactions the payout settled, because refunds, dispute withdrawals and their fees travel in
a payout too and the ledger links only payments to payouts: Stripe's list is the statement the
bank line is checked against, and each charge on it is matched to a ledger payment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ...donations.models import Donation
from ...errors import NotFound
from ...models import Appeal, Payment, Payout, Transfer
from ..pagination import Page, paginate
from .scope import day_bounds

LIST_COLUMNS = (
    Payout.id,
    Payout.stripe_payout_id,
    Payout.amount,
    Payout.currency,
    Payout.status,
    Payout.reconciliation_status,
    Payout.automatic,
    Payout.method,
    Payout.arrival_date,
    Payout.stripe_created_at,
    Payout.payment_count,
    Payout.account,
)
LIST_KEYS = (*(column.key for column in LIST_COLUMNS), "payments_net", "transfers_amount")


class PayoutSource(Protocol):
    def payout_balance_transactions(
        self, payout_id: str, account: str | None = None
    ) -> list[dict[str, Any]]: ...


def _linked_transfers() -> Any:
    # A charity's own payout (``account`` set) carries transfers, never the platform's payments.
    return (
        select(func.coalesce(func.sum(Transfer.amount - Transfer.amount_reversed), 0))
        .where(Transfer.stripe_payout_id == Payout.stripe_payout_id)
        .scalar_subquery()
        .label("transfers_amount")
    )


def _linked_net() -> Any:
    return (
        select(func.coalesce(func.sum(Payment.net), 0))
        .where(
            Payment.stripe_payout_id == Payout.stripe_payout_id,
            Payment.settlement_currency == Payout.currency,
        )
        .scalar_subquery()
        .label("payments_net")
    )


def _query(start: date | None, end: date | None, currency: str | None) -> Select[Any]:
    query = select(*LIST_COLUMNS, _linked_net(), _linked_transfers())
    lower, upper = day_bounds(start, end)
    if lower:
        query = query.where(Payout.arrival_date >= lower)
    if upper:
        query = query.where(Payout.arrival_date < upper)
    if currency:
        query = query.where(Payout.currency == currency)
    return query


def list_payouts(
    db: Session, start: date | None, end: date | None, currency: str | None, cursor: str | None, limit: int
) -> Page:
    return paginate(db, _query(start, end, currency), [Payout.id], [int], cursor, limit)


def get_payout(db: Session, stripe_payout_id: str, stripe: PayoutSource | None) -> dict[str, Any]:
    row = db.execute(_query(None, None, None).where(Payout.stripe_payout_id == stripe_payout_id)).first()
    if row is None:
        raise NotFound("No such payout.")
    item = dict(row._mapping)
    item["payments"] = _carried(
        db, Payment, stripe_payout_id, (Payment.paid_at, Payment.id),
        Payment.id, Payment.donation_id, Appeal.slug.label("appeal"), Payment.stripe_charge_id,
        Payment.balance_transaction_id, Payment.amount, Payment.currency, Payment.settlement_currency,
        Payment.settlement_amount, Payment.fee, Payment.net, Payment.amount_refunded,
        Payment.dispute_status, Payment.paid_at,
    )  # fmt: skip
    item["transfers"] = _carried(
        db, Transfer, stripe_payout_id, (Transfer.transferred_at, Transfer.id),
        Transfer.stripe_transfer_id, Transfer.donation_id, Appeal.slug.label("appeal"),
        Transfer.destination_account, Transfer.destination_payment_id, Transfer.amount,
        Transfer.amount_reversed, Transfer.currency, Transfer.transferred_at,
    )  # fmt: skip
    # In the payout's currency: what the balance received for each payment (Stripe's converted
    # gross), never the charges' own amounts, which may be in EUR, USD and GBP at once.
    settled = [p for p in item["payments"] if p["settlement_currency"] == item["currency"]]
    item["payments_gross"] = sum(p["settlement_amount"] or 0 for p in settled)
    item["payments_fees"] = sum(p["fee"] or 0 for p in settled)
    # A manual or instant payout is not itemised by Stripe (GET /v1/balance_transactions?payout=
    # is refused for it): there is no statement to check, finance reconciles it against the balance.
    itemised = item["automatic"] and stripe is not None
    item["stripe"] = _stripe_statement(stripe, item) if itemised else None
    statement = item["stripe"]
    item["adds_up"] = bool(statement and statement["available"] and statement["adds_up"])
    return item


def _carried(
    db: Session,
    model: type[Payment] | type[Transfer],
    stripe_payout_id: str,
    order: tuple[Any, ...],
    *columns: Any,
) -> list[dict[str, Any]]:
    """The payments or transfers a payout carried, each with its donation's appeal, in order."""
    query = (
        select(*columns)
        .join(Donation, Donation.id == model.donation_id)
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(model.stripe_payout_id == stripe_payout_id)
        .order_by(*order)
    )
    return [dict(row._mapping) for row in db.execute(query)]


def _stripe_statement(stripe: PayoutSource, payout: dict[str, Any]) -> dict[str, Any]:
    from ...stripe_gateway import StripeGatewayError

    try:
        transactions = stripe.payout_balance_transactions(payout["stripe_payout_id"], payout["account"])
    except StripeGatewayError:
        return {"available": False, "adds_up": False, "transactions": []}
    by_txn = {p["balance_transaction_id"]: p for p in payout["payments"] if p["balance_transaction_id"]}
    by_charge = {p["stripe_charge_id"]: p for p in payout["payments"] if p["stripe_charge_id"]}
    # On a charity's payout each transfer arrived as a payment (py_...) of the transfer's amount.
    by_charge.update(
        (t["destination_payment_id"], {"net": t["amount"], "donation_id": t["donation_id"]})
        for t in payout["transfers"]
        if t["destination_payment_id"]
    )
    lines, totals, unmatched = [], {"amount": 0, "fee": 0, "net": 0}, 0
    for txn in transactions:
        if txn.get("type") == "payout":
            continue  # the payout's own transaction: the other side of the bank line
        source = txn.get("source")
        source_id = source.get("id") if isinstance(source, dict) else source
        payment = by_txn.get(txn.get("id")) or (by_charge.get(source_id) if source_id else None)
        matches = payment is not None and payment["net"] == txn.get("net")
        if txn.get("type") in ("charge", "payment") and not matches:
            unmatched += 1
        for key in totals:
            totals[key] += int(txn.get(key) or 0)
        lines.append(
            {
                "id": txn.get("id"),
                "type": txn.get("type"),
                "source": source_id,
                "amount": txn.get("amount"),
                "fee": txn.get("fee"),
                "net": txn.get("net"),
                "created": datetime.fromtimestamp(txn["created"], tz=UTC) if txn.get("created") else None,
                "donation_id": payment["donation_id"] if payment else None,
                "matches_ledger": matches if txn.get("type") in ("charge", "payment") else None,
            }
        )
    return {
        "available": True,
        "transactions": lines,
        "totals": totals,
        "unmatched_charges": unmatched,
        # The payout pays out exactly the net of what it swept up, to the minor unit.
        "adds_up": totals["net"] == payout["amount"] and unmatched == 0,
    }
