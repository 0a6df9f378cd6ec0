"""The reconciliation report: what each appeal raised, what Stripe kept, what is left, per currency.

Every figure is summed inside one currency. A group's totals are never added across currencies,
and there is no "grand total": adding pounds to euros would be a number nobody can reconcile.

Payments are placed by the moment they were paid; a refund or dispute stays with the payment it
reverses (a cohort view), so a week's line does not change its gross when a refund comes later,
only its refunded column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, literal_column, select, text
from sqlalchemy.orm import Session

from ...donations.models import Donation
from ...models import Appeal, Payment, Transfer
from ...money_received import FUNDS_WITHDRAWN
from .scope import Scope, day_bounds, utc_day

GROUPS = ("day", "appeal", "currency", "source")
# In the charge's `currency`: what donors gave and what they got back.
CHARGE_FIGURES = ("payments", "gross", "refunded", "disputed")
# In `settlement_currency`, from Stripe's balance transactions: what the Stripe balance received
# and lost. Stripe converts a charge in a currency the account does not settle in, and converts
# each refund and dispute withdrawal at its own day's rate, so these are never derived from the
# charge figures.
SETTLEMENT_FIGURES = (
    "settlement_gross",
    "fees",
    "net",
    "settlement_refunded",
    "settlement_disputed",
    "balance",
)
FIGURES = (*CHARGE_FIGURES, "settlement_currency", *SETTLEMENT_FIGURES, "without_fee_data")
# Disputes whose money is (still, or for good) withdrawn from the balance: the same definition as
# the appeal totals (service/money_received.py). Inquiries (warning_*) withdraw nothing at Stripe, so
# counting them would put the report's balance below what Stripe actually holds.
OPEN_OR_LOST = FUNDS_WITHDRAWN
NO_JIT = text("SET LOCAL jit = off")


@dataclass(frozen=True)
class ReconciliationFilters:
    start: date
    end: date
    group_by: str = "appeal"


def group_key(db: Session, group_by: str) -> Any:
    if group_by == "day":
        return utc_day(db, Payment.paid_at)
    if group_by == "appeal":
        # The appeal's id, named by its slug afterwards (report): a join to appeals for every one
        # of a year's payments cost 10-30 % of the query (1,000,000 payments, EXPLAIN ANALYZE).
        return Donation.appeal_id
    if group_by == "source":
        # Publishers tag links with utm_source; untagged gifts fall back to the page they came from.
        # The literal is written into the SQL, not bound, so the expression matches the planner
        # statistics on it (migration 0022) in prepared statements too.
        return func.coalesce(Donation.utm_source, Donation.source_url, literal_column("'(none)'"))
    return Payment.currency


def _sum(expr: Any) -> Any:
    return func.coalesce(func.sum(expr), 0)


def report(db: Session, scope: Scope, filters: ReconciliationFilters) -> dict[str, Any]:
    if db.get_bind().dialect.name == "postgresql":
        # A year of payments costs the planner more than jit_above_cost, so PostgreSQL compiles
        # the query's expressions first: 170-190 ms measured on 1,000,000 payments, more than the
        # compiled expressions then save on an aggregate this simple. Off for this transaction only.
        db.execute(NO_JIT)
    key = group_key(db, filters.group_by).label("key")
    lower, upper = day_bounds(filters.start, filters.end)
    disputed = case(
        (Payment.dispute_status.in_(OPEN_OR_LOST), func.coalesce(Payment.dispute_amount, 0)), else_=0
    )
    # A line is one (group, charge currency, settlement currency): GBP gifts settled in GBP and
    # EUR gifts converted into GBP are two lines, and payments whose balance transaction is not
    # known yet a third (settlement currency empty, counted in without_fee_data).
    query = (
        select(
            key,
            Payment.currency.label("currency"),
            Payment.settlement_currency.label("settlement_currency"),
            func.count().label("payments"),
            _sum(Payment.amount).label("gross"),
            _sum(Payment.amount_refunded).label("refunded"),
            _sum(disputed).label("disputed"),
            _sum(Payment.settlement_amount).label("settlement_gross"),
            _sum(Payment.fee).label("fees"),
            _sum(Payment.net).label("net"),
            _sum(Payment.settlement_refunded).label("settlement_refunded"),
            _sum(Payment.settlement_disputed).label("settlement_disputed"),
            func.count(Payment.fee).label("with_fee_data"),
        )
        .where(Payment.paid_at >= lower, Payment.paid_at < upper, Payment.status == "succeeded")
        .group_by(key, Payment.currency, Payment.settlement_currency)
        .order_by(key, Payment.currency, Payment.settlement_currency)
    )
    # Join only what the grouping or the scope needs: on a year of payments the join to
    # donations is most of the work.
    if filters.group_by in ("appeal", "source") or scope.appeal_ids is not None:
        query = query.join(Donation, Donation.id == Payment.donation_id)
    if scope.appeal_ids is not None:
        query = query.where(scope.limit(Donation.appeal_id))
    groups = [_line(row) for row in db.execute(query)]
    if filters.group_by == "appeal":
        groups = _named_by_slug(db, groups)
    totals: dict[str, dict[str, Any]] = {}
    settlement_totals: dict[str, dict[str, Any]] = {}
    for line in groups:
        total = totals.setdefault(line["currency"], _empty(CHARGE_FIGURES, currency=line["currency"]))
        for field in (*CHARGE_FIGURES, "without_fee_data"):
            total[field] += line[field]
        code = line["settlement_currency"]
        if code is None:
            continue
        settled = settlement_totals.setdefault(
            code, _empty(("payments", *SETTLEMENT_FIGURES), settlement_currency=code)
        )
        settled["payments"] += line["payments"]
        for field in SETTLEMENT_FIGURES:
            settled[field] += line[field]
    return {
        "start": filters.start,
        "end": filters.end,
        "group_by": filters.group_by,
        "groups": groups,
        # One per charge currency (gross, refunded, disputed) and one per settlement currency
        # (what the Stripe balance got): never summed across currencies, never one from the other.
        "totals": [totals[code] for code in sorted(totals)],
        "settlement_totals": [settlement_totals[code] for code in sorted(settlement_totals)],
        "transferred": transferred(db, scope, lower, upper),
    }


def transferred(db: Session, scope: Scope, lower: Any, upper: Any) -> list[dict[str, Any]]:
    """What charities with their own Stripe account received, per appeal, account and currency.

    The other side of a Connect appeal's payments: the groups above are the platform's (its charge,
    the fee it paid, refunds and disputes debited from its balance); these are the transfers to the
    charity (docs/finance.md). The payment's ``paid_at`` places a transfer, as it places the payment.
    """
    query = (
        select(
            Appeal.slug.label("appeal"),
            Transfer.destination_account.label("account"),
            Transfer.currency.label("currency"),
            func.count().label("transfers"),
            _sum(Transfer.amount).label("amount"),
            _sum(Transfer.amount_reversed).label("reversed"),
            func.count(Transfer.stripe_payout_id).label("paid_out"),
        )
        .join(Payment, Payment.id == Transfer.payment_id)
        .join(Donation, Donation.id == Transfer.donation_id)
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(Payment.paid_at >= lower, Payment.paid_at < upper)
        .group_by(Appeal.slug, Transfer.destination_account, Transfer.currency)
        .order_by(Appeal.slug, Transfer.destination_account, Transfer.currency)
    )
    if scope.appeal_ids is not None:
        query = query.where(scope.limit(Donation.appeal_id))
    return [
        {
            "appeal": row.appeal,
            "account": row.account,
            "currency": row.currency,
            "transfers": int(row.transfers),
            "amount": int(row.amount),
            "reversed": int(row.reversed),
            "received": int(row.amount) - int(row.reversed),
            "paid_out": int(row.paid_out),
        }
        for row in db.execute(query)
    ]


def _named_by_slug(db: Session, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines keyed by appeal id, keyed by the appeal's slug instead, in the order the query would
    have given them had it grouped by slug (slug, currency, settlement currency, none last)."""
    slugs = {appeal_id: slug for appeal_id, slug in db.execute(select(Appeal.id, Appeal.slug))}
    for line in groups:
        line["key"] = slugs[int(line["key"])]
    return sorted(
        groups,
        key=lambda g: (
            g["key"],
            g["currency"],
            g["settlement_currency"] is None,
            g["settlement_currency"] or "",
        ),
    )


def _line(row: Any) -> dict[str, Any]:
    known = row.settlement_currency is not None
    net, refunded, disputed = int(row.net), int(row.settlement_refunded), int(row.settlement_disputed)
    line: dict[str, Any] = {
        "key": str(row.key),
        "currency": row.currency,
        "payments": int(row.payments),
        "gross": int(row.gross),
        "refunded": int(row.refunded),
        "disputed": int(row.disputed),
        "settlement_currency": row.settlement_currency,
        "settlement_gross": int(row.settlement_gross) if known else None,
        "fees": int(row.fees) if known else None,
        "net": net if known else None,
        "settlement_refunded": refunded if known else None,
        "settlement_disputed": disputed if known else None,
        # What this group leaves in the Stripe balance, all in settlement_currency: Stripe's net
        # less what refunds and dispute withdrawals took from the balance.
        "balance": net - refunded - disputed if known else None,
        "without_fee_data": int(row.payments) - int(row.with_fee_data),
    }
    return line


def _empty(figures: tuple[str, ...], **keys: str) -> dict[str, Any]:
    return {**keys, **dict.fromkeys(figures, 0), **({"without_fee_data": 0} if "currency" in keys else {})}
