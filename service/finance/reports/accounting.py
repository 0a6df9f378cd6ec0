"""Accounting imports of a payout: a Xero bank statement and a QuickBooks Online bank CSV.

Both are statements of a "Stripe" clearing account in the books (docs/finance.md, "Accounting
imports"): money in by appeal, Stripe's fees, refunds, disputes and dispute fees, Connect transfers
and other adjustments on lines of their own, and the payout itself going out to the bank. The
lines before the payout add up to the payout amount, so after the import the clearing account is
back to zero and the payout line matches the bank deposit.

Xero's bank statement import maps Date, Amount, Payee, Description and Reference; the appeal is
in the Description and in an Appeal column, so a bank rule can set the tracking category. QuickBooks
Online's bank upload takes exactly Date, Description and Amount; its bank rules set the class from
the Description. Dates are DD/MM/YYYY, as both expect in the UK; amounts are plain decimals with a
minus sign for money out (no symbols, no thousands separators).
"""

from __future__ import annotations

from typing import Any

from ..csv_columns import major
from .statement import Statement

XERO_HEADER = ("Date", "Amount", "Payee", "Description", "Reference", "Appeal")
QUICKBOOKS_HEADER = ("Date", "Description", "Amount")
SOFTWARE = ("xero", "quickbooks")

# How each statement category is named in the books, and whether it is split by appeal.
LABELS = {
    "payment": ("Donations", True),
    "refund": ("Refunds to donors", True),
    "refund_failure": ("Failed refunds returned", True),
    "dispute": ("Disputed donations withdrawn", True),
    "dispute_reversal": ("Disputes won: donations returned", True),
    "dispute_fee": ("Stripe dispute fees", False),
    "transfer": ("Transferred to the charity's Stripe account", True),
    "transfer_reversal": ("Transfers reversed", True),
    "payment_reversal": ("Payments reversed", True),
    "stripe_fee": ("Stripe fees (other)", False),
    "application_fee": ("Application fees", False),
    "adjustment": ("Stripe adjustments", False),
}
FEES = "fees"


def lines(statement: Statement) -> list[dict[str, Any]]:
    """The import's lines in minor units: one per (category, appeal), fees apart, payout last."""
    buckets: dict[tuple[str, str | None], int] = {}
    for line in statement.lines:
        category = line["category"]
        if category == "dispute_fee":
            buckets[(category, None)] = buckets.get((category, None), 0) + line["net"]
            continue
        _label, by_appeal = LABELS.get(category, LABELS["adjustment"])
        key = (category if category in LABELS else "adjustment", line["appeal"] if by_appeal else None)
        buckets[key] = buckets.get(key, 0) + line["gross"]
        if line["fee"]:
            buckets[(FEES, None)] = buckets.get((FEES, None), 0) - line["fee"]
    order = list(LABELS)
    result = []
    for (category, appeal), amount in sorted(
        buckets.items(),
        key=lambda item: (order.index(item[0][0]) if item[0][0] in order else 99, item[0][1] or ""),
    ):
        if amount == 0:
            continue
        label = "Stripe processing fees" if category == FEES else LABELS[category][0]
        result.append({"category": category, "appeal": appeal, "label": label, "amount": amount})
    payout = statement.payout
    result.append(
        {
            "category": "payout",
            "appeal": None,
            "label": "Payout to the bank account",
            "amount": -payout["amount"],
        }
    )
    return result


def _date(statement: Statement) -> str:
    day = statement.payout.get("arrival_date") or statement.payout.get("stripe_created_at")
    return day.strftime("%d/%m/%Y") if day else ""


def xero_rows(statement: Statement) -> list[list[Any]]:
    payout_id, currency, day = (
        statement.payout["stripe_payout_id"],
        statement.payout["currency"],
        _date(statement),
    )
    rows = []
    for line in lines(statement):
        description = line["label"] + (f" – {line['appeal']}" if line["appeal"] else "")
        payee = "Bank account" if line["category"] == "payout" else "Stripe"
        rows.append(
            [day, major(line["amount"], currency), payee, description, payout_id, line["appeal"] or ""]
        )
    return rows


def quickbooks_rows(statement: Statement) -> list[list[Any]]:
    payout_id, currency, day = (
        statement.payout["stripe_payout_id"],
        statement.payout["currency"],
        _date(statement),
    )
    rows = []
    for line in lines(statement):
        description = line["label"] + (f" – {line['appeal']}" if line["appeal"] else "") + f" ({payout_id})"
        rows.append([day, description, major(line["amount"], currency)])
    return rows
