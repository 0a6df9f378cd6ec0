"""A payout statement: one line per balance transaction the payout carried, summing to the bank.

Stripe pays out a balance, not a list of donations: payments in, minus their fees, minus refunds,
dispute withdrawals and dispute fees, plus anything else that moved the balance (adjustments,
Connect transfers out, reversals back). Stripe's list of the payout's balance transactions
(``GET /v1/balance_transactions?payout=po_...``, docs.stripe.com/payouts/reconciliation) is that
statement; each line is matched to the ledger's donation and appeal through its source (the
charge, the refund's charge, the dispute, the transfer), which the list gives expanded
(``expand[]=data.source``, as the same guide does).

Every line carries gross, fee and net in the payout's currency (the account's settlement
currency), so the nets add up to the amount that reached the bank, to the minor unit. A
dispute withdrawal's fee is shown as its own ``dispute_fee`` line, as Stripe's balance summary
counts it under fees, not under the dispute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...donations.models import Donation
from ...models import Appeal, Payment, Transfer

# Stripe's balance transaction types (stripe-python 16.1 BalanceTransaction.type) to a statement
# category; reporting_category separates a dispute from a dispute's reversal (both "adjustment").
CATEGORIES = {
    "charge": "payment",
    "payment": "payment",
    "refund": "refund",
    "payment_refund": "refund",
    "refund_failure": "refund_failure",
    "payment_failure_refund": "refund_failure",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "transfer_cancel": "transfer_reversal",
    "transfer_failure": "transfer_reversal",
    "payment_reversal": "payment_reversal",
    "stripe_fee": "stripe_fee",
    "application_fee": "application_fee",
}
DISPUTE_CATEGORIES = {"dispute": "dispute", "dispute_reversal": "dispute_reversal"}
# The order of the statement's summary: what came in, what went out, what reached the bank.
SUMMARY_ORDER = (
    "payment",
    "refund",
    "refund_failure",
    "dispute",
    "dispute_fee",
    "dispute_reversal",
    "transfer",
    "transfer_reversal",
    "payment_reversal",
    "stripe_fee",
    "application_fee",
    "adjustment",
)
COLUMNS = (
    "payout",
    "payout_arrival_date",
    "balance_transaction",
    "created_at",
    "category",
    "description",
    "source",
    "donation_id",
    "appeal",
    "currency",
    "gross",
    "fee",
    "net",
)
MONEY = ("gross", "fee", "net")


@dataclass(frozen=True)
class Statement:
    payout: dict[str, Any]
    lines: list[dict[str, Any]]
    # Per category: gross, fee, net and how many lines, in SUMMARY_ORDER.
    summary: list[dict[str, Any]]
    total_net: int
    # The nets sum to the payout amount: what reached the bank, to the minor unit.
    adds_up: bool


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _charge_of(source: Any) -> str | None:
    """The charge behind an expanded refund or dispute (``charge`` may itself be expanded)."""
    if isinstance(source, dict):
        return _id(source.get("charge"))
    return None


def category_of(txn: dict[str, Any]) -> str:
    kind = txn.get("type") or ""
    if kind == "adjustment" or txn.get("reporting_category") in DISPUTE_CATEGORIES:
        found = DISPUTE_CATEGORIES.get(txn.get("reporting_category") or "")
        source = _id(txn.get("source")) or ""
        if found is None and source.startswith(("dp_", "du_")):
            found = "dispute"
        return found or "adjustment"
    return CATEGORIES.get(kind, "adjustment")


class LedgerMatch:
    """Donation and appeal for a charge, dispute or transfer, looked up once per statement."""

    def __init__(self, db: Session, transactions: Iterable[dict[str, Any]]) -> None:
        charges: set[str] = set()
        others: set[str] = set()
        for txn in transactions:
            source = txn.get("source")
            for found in (_id(source), _charge_of(source)):
                if found:
                    (charges if found.startswith(("ch_", "py_")) else others).add(found)
        self.by_charge: dict[str, tuple[str, str]] = {}
        self.by_dispute: dict[str, tuple[str, str]] = {}
        self.by_transaction: dict[str, tuple[str, str]] = {}
        self.by_transfer: dict[str, tuple[str, str]] = {}
        txn_ids = {txn["id"] for txn in transactions if txn.get("id")}
        query = (
            select(
                Payment.stripe_charge_id,
                Payment.dispute_id,
                Payment.balance_transaction_id,
                Donation.id,
                Appeal.slug,
            )
            .join(Donation, Donation.id == Payment.donation_id)
            .join(Appeal, Appeal.id == Donation.appeal_id)
            .where(
                or_(
                    Payment.stripe_charge_id.in_(charges),
                    Payment.dispute_id.in_(others),
                    Payment.balance_transaction_id.in_(txn_ids),
                )
            )
        )
        for charge, dispute, balance_transaction, donation_id, appeal in db.execute(query):
            if charge:
                self.by_charge[charge] = (donation_id, appeal)
            if dispute:
                self.by_dispute[dispute] = (donation_id, appeal)
            if balance_transaction:
                self.by_transaction[balance_transaction] = (donation_id, appeal)
        # Connect appeals: the platform's transfer out (tr_...), and on the charity's own payout
        # the payment the transfer arrived as (py_...).
        rows = db.execute(
            select(Transfer.stripe_transfer_id, Transfer.destination_payment_id, Donation.id, Appeal.slug)
            .join(Donation, Donation.id == Transfer.donation_id)
            .join(Appeal, Appeal.id == Donation.appeal_id)
            .where(
                or_(
                    Transfer.stripe_transfer_id.in_(others),
                    Transfer.destination_payment_id.in_(charges),
                )
            )
        )
        for transfer_id, destination_payment, donation_id, appeal in rows:
            self.by_transfer[transfer_id] = (donation_id, appeal)
            if destination_payment:
                self.by_charge[destination_payment] = (donation_id, appeal)

    def find(self, txn: dict[str, Any]) -> tuple[str | None, str | None]:
        source = txn.get("source")
        source_id = _id(source) or ""
        for table, key in (
            (self.by_transaction, txn.get("id")),
            (self.by_charge, source_id),
            (self.by_dispute, source_id),
            (self.by_transfer, source_id),
            (self.by_charge, _charge_of(source)),
            # A transfer reversal's source is the reversal; its transfer is named inside it.
            (self.by_transfer, _id(source.get("transfer")) if isinstance(source, dict) else None),
        ):
            if key and key in table:
                return table[key]
        return None, None


def lines_for(db: Session, transactions: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """Statement lines for Stripe balance transactions (payouts' own left out), oldest first."""
    ledger = LedgerMatch(db, transactions)
    lines: list[dict[str, Any]] = []
    for txn in sorted(transactions, key=lambda t: (t.get("created") or 0, t.get("id") or "")):
        if txn.get("type") == "payout" and not extra.get("with_payouts"):
            continue  # the payout's own transaction: the bank line a statement explains
        donation_id, appeal = ledger.find(txn)
        created = txn.get("created")
        line = {
            **{k: v for k, v in extra.items() if k != "with_payouts"},
            "balance_transaction": txn.get("id"),
            "created_at": datetime.fromtimestamp(created, tz=UTC) if created else None,
            "category": "payout" if txn.get("type") == "payout" else category_of(txn),
            "description": txn.get("description"),
            "source": _id(txn.get("source")),
            "donation_id": donation_id,
            "appeal": appeal,
            "currency": txn.get("currency"),
            "gross": int(txn.get("amount") or 0),
            "fee": int(txn.get("fee") or 0),
            "net": int(txn.get("net") or 0),
        }
        if line["category"] in ("dispute", "dispute_reversal") and line["fee"]:
            # The dispute fee (or its return when the dispute is won) on a line of its own.
            fee_line = {**line, "category": "dispute_fee", "gross": 0, "net": -line["fee"]}
            line = {**line, "fee": 0, "net": line["gross"]}
            if line["gross"]:
                lines.append(line)
            lines.append(fee_line)
            continue
        lines.append(line)
    return lines


def build(db: Session, payout: dict[str, Any], transactions: list[dict[str, Any]]) -> Statement:
    """The statement of ``payout`` (a row of the payouts report) from Stripe's transactions."""
    lines = lines_for(
        db, transactions, payout=payout["stripe_payout_id"], payout_arrival_date=payout.get("arrival_date")
    )
    total = sum(line["net"] for line in lines)
    return Statement(
        payout=payout,
        lines=lines,
        summary=summarise(lines),
        total_net=total,
        adds_up=total == payout["amount"],
    )


def summarise(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for line in lines:
        total = totals.setdefault(
            line["category"],
            {
                "category": line["category"],
                "lines": 0,
                "gross": 0,
                "fee": 0,
                "net": 0,
                "currency": line["currency"],
            },
        )
        total["lines"] += 1
        for key in MONEY:
            total[key] += line[key]
    order = {name: i for i, name in enumerate(SUMMARY_ORDER)}
    return sorted(totals.values(), key=lambda t: order.get(t["category"], len(order)))
