"""The funder's report: eligible gifts with their evidence, totals per period, and each cap's use.

It names no donor. Each gift carries only what the funder's rules need to check it: when it was
paid, how much, whether it was one-off or a first monthly payment, and the evidence of UK
residence (which kind, and the postcode district: the outward half of the postcode, e.g.
``SW1A``, which shows residence without locating a home). Finance can tie a row to the ledger
by its donation id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...donations.models import Donation
from ...matching.models import MatchAllocation, MatchCap, MatchRule
from ...models import Appeal
from .scope import Scope, day_bounds

PERIODS = ("month", "week", "day")
# A gift the rules accept; the cap may still have left it partly or not matched.
ELIGIBLE_REASONS = (None, "cap_reached")
GIFT_COLUMNS = [
    "donation_id", "appeal", "funder", "paid_at", "payment_kind", "donor_type", "currency",
    "gift_amount", "matched", "status", "reason", "residence_evidence", "postcode_district",
    "gift_aid_declared_at",
]  # fmt: skip
TOTAL_COLUMNS = ["appeal", "funder", "period", "currency", "gifts", "gift_amount", "matched"]


@dataclass(frozen=True)
class FunderFilters:
    funder: str | None = None
    start: date | None = None
    end: date | None = None
    period: str = "month"


def period_of(moment: datetime | None, period: str) -> str:
    if moment is None:
        return ""
    if period == "day":
        return moment.date().isoformat()
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{moment:%Y-%m}"


def _rules(db: Session, scope: Scope, filters: FunderFilters) -> list[tuple[MatchRule, str]]:
    query = select(MatchRule, Appeal.slug).join(Appeal, Appeal.id == MatchRule.appeal_id)
    if scope.appeal_ids is not None:
        query = query.where(scope.limit(MatchRule.appeal_id))
    if filters.funder:
        query = query.where(MatchRule.funder == filters.funder)
    return [(rule, slug) for rule, slug in db.execute(query.order_by(Appeal.slug, MatchRule.funder))]


def eligible_gifts(db: Session, scope: Scope, filters: FunderFilters) -> list[dict[str, Any]]:
    """Every gift the rules accept, oldest first, with its evidence and no donor details."""
    rules = {rule.id: (rule, slug) for rule, slug in _rules(db, scope, filters)}
    if not rules:
        return []
    query = (
        select(MatchAllocation, Donation.gift_aid_declared_at)
        .join(Donation, Donation.id == MatchAllocation.donation_id)
        .where(MatchAllocation.rule_id.in_(rules), MatchAllocation.reason.is_(None) | (MatchAllocation.reason == "cap_reached"))
        .order_by(MatchAllocation.paid_at, MatchAllocation.id)
    )  # fmt: skip
    lower, upper = day_bounds(filters.start, filters.end)
    if lower:
        query = query.where(MatchAllocation.paid_at >= lower)
    if upper:
        query = query.where(MatchAllocation.paid_at < upper)
    gifts = []
    for allocation, declared_at in db.execute(query):
        rule, slug = rules[allocation.rule_id]
        gifts.append(
            {
                "donation_id": allocation.donation_id, "appeal": slug, "funder": rule.funder,
                "paid_at": allocation.paid_at, "payment_kind": allocation.payment_kind,
                # Gifts reach the service only through its public donate page and API, by card or
                # bank debit in a person's name: there is no business or trust giving route.
                "donor_type": "individual", "currency": allocation.currency,
                "gift_amount": allocation.gift_amount, "matched": allocation.matched,
                "status": allocation.status, "reason": allocation.reason,
                "residence_evidence": allocation.residence_evidence,
                "postcode_district": allocation.postcode_district,
                "gift_aid_declared_at": declared_at if allocation.residence_evidence == "gift_aid_declaration" else None,
            }
        )  # fmt: skip
    return gifts


def funder_report(db: Session, scope: Scope, filters: FunderFilters) -> dict[str, Any]:
    """Rules with their caps' use, totals per period and currency, and the eligible gifts."""
    funders = []
    for rule, slug in _rules(db, scope, filters):
        caps = db.scalars(select(MatchCap).where(MatchCap.rule_id == rule.id).order_by(MatchCap.currency))
        funders.append(
            {
                "appeal": slug, "funder": rule.funder, "ratio": rule.ratio,
                "starts_at": rule.starts_at, "ends_at": rule.ends_at,
                "eligibility": {"individual_donors": rule.individual_donors, "uk_residence": rule.uk_residence,
                                "payments": rule.payments},
                "caps": [{"currency": c.currency, "cap": c.cap, "used": c.used, "remaining": c.cap - c.used}
                         for c in caps],
            }
        )  # fmt: skip
    gifts = eligible_gifts(db, scope, filters)
    totals: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"gifts": 0, "gift_amount": 0, "matched": 0}
    )
    for gift in gifts:
        key = (gift["appeal"], gift["funder"], period_of(gift["paid_at"], filters.period), gift["currency"])
        line = totals[key]
        line["gifts"] += 1
        line["gift_amount"] += gift["gift_amount"]
        line["matched"] += gift["matched"]
    periods = [
        {"appeal": a, "funder": f, "period": p, "currency": c, **figures}
        for (a, f, p, c), figures in sorted(totals.items())
    ]
    return {"period": filters.period, "funders": funders, "totals": periods, "gifts": gifts}
