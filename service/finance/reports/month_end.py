"""The month-end report: per settlement currency, the Stripe balance from opening to closing.

Built as Stripe's own balance summary is (docs.stripe.com/reports/balance): the opening balance
(every balance transaction before the month), the month's activity by category — gifts by
appeal, Stripe's fees, refunds, disputes and dispute fees, Connect transfers, other adjustments —
then payouts, and the closing balance, which is opening plus activity less payouts. Figures are
Stripe's balance transactions in the currency the balance is kept in, so a euro gift settled in
pounds counts in pounds, at Stripe's rate. Each line is matched to the ledger's donation through
its source; what Stripe holds that this service did not take (a payment made elsewhere on the
same account) is named on a line of its own, so a difference from the dashboard is explained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from . import statement

SECTIONS = ("opening_balance", "activity", "payouts", "closing_balance", "not_from_this_service")
ACTIVITY = (
    "payment",
    "fees",
    "refund",
    "refund_failure",
    "dispute",
    "dispute_reversal",
    "dispute_fee",
    "transfer",
    "transfer_reversal",
    "payment_reversal",
    "stripe_fee",
    "application_fee",
    "adjustment",
)
COLUMNS = ("month", "settlement_currency", "section", "category", "appeal", "transactions", "amount")


@dataclass(frozen=True)
class MonthEnd:
    month: str
    start: date
    end: date  # first day of the next month
    # One block per settlement currency, each a list of rows (dicts with COLUMNS' keys).
    currencies: dict[str, list[dict[str, Any]]]


def month_bounds(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    end = date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def timestamp(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def build(db: Session, month: str, transactions: Iterable[dict[str, Any]]) -> MonthEnd:
    """``transactions``: every balance transaction created before the month's end."""
    start, end = month_bounds(month)
    lower, upper = timestamp(start), timestamp(end)
    opening: dict[str, int] = {}
    in_month: list[dict[str, Any]] = []
    for txn in transactions:
        created = int(txn.get("created") or 0)
        if created >= upper:
            continue
        if created < lower:
            code = txn.get("currency") or ""
            opening[code] = opening.get(code, 0) + int(txn.get("net") or 0)
        else:
            in_month.append(txn)
    lines = statement.lines_for(db, in_month, with_payouts=True)
    codes = sorted(set(opening) | {line["currency"] for line in lines})
    return MonthEnd(
        month, start, end, {code: _block(month, code, opening.get(code, 0), lines) for code in codes}
    )


def _block(month: str, code: str, opening: int, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def row(
        section: str, category: str, amount: int, count: int, appeal: str | None = None
    ) -> dict[str, Any]:
        return {
            "month": month,
            "settlement_currency": code,
            "section": section,
            "category": category,
            "appeal": appeal,
            "transactions": count,
            "amount": amount,
        }

    activity: dict[tuple[str, str | None], list[int]] = {}
    payouts = [0, 0]
    outside = [0, 0]
    for line in (line for line in lines if line["currency"] == code):
        if line["category"] == "payout":
            payouts[0] += line["net"]
            payouts[1] += 1
            continue
        if line["donation_id"] is None:
            outside[0] += line["net"]
            outside[1] += 1
        gross_key = (line["category"], line["appeal"] if line["category"] == "payment" else None)
        bucket = activity.setdefault(gross_key, [0, 0])
        # A dispute fee is all fee (gross 0): its net is what it took from the balance.
        bucket[0] += line["net"] if line["category"] == "dispute_fee" else line["gross"]
        bucket[1] += 1
        if line["fee"] and line["category"] != "dispute_fee":
            fees = activity.setdefault(("fees", None), [0, 0])
            fees[0] -= line["fee"]
            fees[1] += 1
    rows = [row("opening_balance", "opening_balance", opening, 0)]
    order = {name: i for i, name in enumerate(ACTIVITY)}
    for (category, appeal), (amount, count) in sorted(
        activity.items(), key=lambda item: (order.get(item[0][0], len(order)), item[0][1] or "")
    ):
        rows.append(row("activity", category, amount, count, appeal))
    moved = sum(amount for amount, _ in activity.values())
    rows.append(row("payouts", "payouts", payouts[0], payouts[1]))
    rows.append(row("closing_balance", "closing_balance", opening + moved + payouts[0], 0))
    rows.append(row("not_from_this_service", "not_matched_to_a_donation", outside[0], outside[1]))
    return rows
