"""Money received per source (page, referrer, campaign tags), summed on the way out.

Finance reports call :func:`totals_by_source`; partners see :func:`publisher_summary`, which
holds no personal data (no donor, no amount of any single identifiable gift beyond the totals).
What a donation records about its source is cleaned on the way in by service/attribution.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .donations.models import Donation
from .models import Appeal, Payment
from .money_received import payment_received_amount


@dataclass(frozen=True)
class SourceTotal:
    appeal: str
    source_url: str | None
    referrer_host: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    currency: str
    gifts: int
    gift_amount: int  # received, net of refunds, without fee cover
    fee_cover_amount: int  # received towards card fees
    received_amount: int  # everything received: gifts plus fee cover


def totals_by_source(
    db: Session, start: datetime | None = None, end: datetime | None = None, appeal_slug: str | None = None
) -> list[SourceTotal]:
    """Money received per source and currency, for finance reports (payments paid in [start, end))."""
    gross = payment_received_amount()
    gift = payment_received_amount(less_fee_cover=Donation.fee_cover_amount)
    group = (
        Appeal.slug, Donation.source_url, Donation.referrer_host, Donation.utm_source,
        Donation.utm_medium, Donation.utm_campaign, Payment.currency,
    )  # fmt: skip
    query = (
        select(
            *group,
            func.count(func.distinct(Donation.id)).filter(gross > 0),
            func.sum(gift),
            func.sum(gross),
        )
        .join(Payment, Payment.donation_id == Donation.id)
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .group_by(*group)
        .order_by(Appeal.slug, func.sum(gross).desc())
    )
    if start is not None:
        query = query.where(Payment.paid_at >= start)
    if end is not None:
        query = query.where(Payment.paid_at < end)
    if appeal_slug:
        query = query.where(Appeal.slug == appeal_slug)
    result = []
    for slug, url, host, src, medium, campaign, currency, gifts, gift_sum, gross_sum in db.execute(query):
        if not gross_sum:
            continue
        result.append(
            SourceTotal(
                slug,
                url,
                host,
                src,
                medium,
                campaign,
                currency,
                int(gifts or 0),
                int(gift_sum or 0),
                int(gross_sum) - int(gift_sum or 0),
                int(gross_sum),
            )  # fmt: skip
        )
    return result


@dataclass(frozen=True)
class PublisherSource:
    source_url: str | None
    referrer_host: str | None
    utm_source: str | None
    utm_campaign: str | None
    gifts: int
    raised: dict[str, int]


def publisher_summary(db: Session, appeal: Appeal, limit: int = 100) -> list[PublisherSource]:
    """Which pages raised what for one appeal: gifts received and totals per currency.

    Built for partners: only page URLs (already stripped of query strings), hosts and campaign
    tags, with counts and sums; sources are ordered by number of gifts.
    """
    rows: dict[tuple[Any, ...], PublisherSource] = {}
    for total in totals_by_source(db, appeal_slug=appeal.slug):
        key = (total.source_url, total.referrer_host, total.utm_source, total.utm_campaign)
        entry = rows.get(key) or PublisherSource(*key, gifts=0, raised={})
        raised = dict(entry.raised)
        if total.gift_amount:
            raised[total.currency] = raised.get(total.currency, 0) + total.gift_amount
        rows[key] = PublisherSource(*key, gifts=entry.gifts + total.gifts, raised=raised)
    ordered = sorted(rows.values(), key=lambda s: (-s.gifts, s.source_url or ""))
    return [s for s in ordered if s.raised][:limit]
