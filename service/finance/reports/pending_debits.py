"""Bank debits on their way, per appeal and currency: money donors authorised that no bank has paid.

Bacs and SEPA debits complete Checkout unpaid and stay ``processing`` for days (up to 14 business
days for SEPA). They are in no total (the ledger has no payment row for them until the bank pays),
so finance sees them here, apart: how many, how much, and since when. A debit that fails leaves
this list without ever having been counted. (A small addition to the dashboard; the reports'
restructure is issue 15's.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...donations.models import Donation, DonationStatus
from ...models import Appeal
from .monthly_gifts import mandate_gone
from .scope import Scope


def report(db: Session, scope: Scope) -> list[dict[str, Any]]:
    """One line per appeal and currency: debits, gift amount (fee cover apart), oldest started."""
    query = (
        select(
            Appeal.slug,
            Donation.currency,
            func.count(),
            func.sum(Donation.amount),
            func.sum(Donation.fee_cover_amount),
            func.min(Donation.updated_at),
        )
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(Donation.status == DonationStatus.PROCESSING)
        .group_by(Appeal.slug, Donation.currency)
        .order_by(Appeal.slug, Donation.currency)
    )
    limit = scope.limit(Donation.appeal_id)
    if limit is not None:
        query = query.where(limit)
    return [
        {"appeal": slug, "currency": currency, "debits": int(count), "amount": int(amount or 0),
         "fee_cover": int(cover or 0), "oldest": oldest}
        for slug, currency, count, amount, cover, oldest in db.execute(query)
    ]  # fmt: skip


def mandates_at_risk(db: Session, scope: Scope) -> list[dict[str, Any]]:
    """One line per appeal and currency: monthly gifts whose bank mandate is no longer active."""
    query = (
        select(
            Appeal.slug,
            Donation.currency,
            func.count(),
            func.sum(Donation.amount),
            func.min(Donation.mandate_status_at),
        )
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(mandate_gone())
        .group_by(Appeal.slug, Donation.currency)
        .order_by(Appeal.slug, Donation.currency)
    )
    limit = scope.limit(Donation.appeal_id)
    if limit is not None:
        query = query.where(limit)
    return [
        {"appeal": slug, "currency": currency, "gifts": int(count), "monthly_amount": int(amount or 0),
         "since": since}
        for slug, currency, count, amount, since in db.execute(query)
    ]  # fmt: skip
