"""Attribution: where a gift came from, cleaned on the way in and summed on the way out.

The source page is kept as scheme, host and path only: query strings and fragments can carry a
reader's session tokens or e-mail address, and campaign tags travel separately as ``utm_*``.
Finance reports call :func:`totals_by_source`; partners see :func:`publisher_summary`, which
holds no personal data (no donor, no amount of any single identifiable gift beyond the totals).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Appeal, Donation
from .money_received import payment_received_amount

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_MAX = 200
URL_MAX = 2048
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_page_url(raw: str | None) -> str | None:
    """http(s) URL reduced to scheme://host[:port]/path, or None when it is not one."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, host, parts.path or "/", "", ""))[:URL_MAX]


def clean_host(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        host = urlsplit(raw.strip()).hostname
    except ValueError:
        return None
    return host[:255] if host else None


def clean_tag(raw: str | None) -> str | None:
    """A utm_* value without control characters, trimmed to what the column holds."""
    if raw is None:
        return None
    value = CONTROL.sub("", raw).strip()[:UTM_MAX]
    return value or None


def source_columns(source: dict[str, Any]) -> dict[str, Any]:
    """Donation columns from a validated ``source`` ({url, referrer, utm_*})."""
    columns: dict[str, Any] = {key: clean_tag(source.get(key)) for key in UTM_KEYS}
    columns["source_url"] = clean_page_url(source.get("url"))
    columns["referrer_host"] = clean_host(source.get("referrer")) or clean_host(source.get("url"))
    return columns


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
    from .models import Payment

    gross = payment_received_amount(include_fee_cover=True)
    gift = payment_received_amount(include_fee_cover=False)
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
