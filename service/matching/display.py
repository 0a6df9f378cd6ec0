"""What donors are told about match funding: "Matched 1:1 by … until …" and what is left.

Shown only while a rule is live (inside its window, with room left in the donor's currency), in
the donor's language, on the donate page, in the widget and in the progress answer's display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.dates import format_date
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..donations.models import Donation
from ..i18n import babel_locale, gettext, money
from ..models import utcnow
from .models import MatchAllocation, MatchCap, MatchRule


@dataclass(frozen=True)
class MatchOffer:
    funder: str
    ratio: str
    ends_at: datetime | None
    remaining: dict[str, int]  # per currency, minor units
    uk_residence: tuple[str, ...]


def live_offers(db: Session, appeal_id: int, at: datetime | None = None) -> list[MatchOffer]:
    """The appeal's rules matching gifts now, with the room left in each currency."""
    now = at or utcnow()
    offers = []
    for rule in db.scalars(select(MatchRule).where(MatchRule.appeal_id == appeal_id).order_by(MatchRule.id)):
        if not rule.is_live(now):
            continue
        caps = db.scalars(select(MatchCap).where(MatchCap.rule_id == rule.id).order_by(MatchCap.currency))
        remaining = {c.currency: c.cap - c.used for c in caps if c.cap > c.used}
        if remaining:
            offers.append(
                MatchOffer(rule.funder, rule.ratio, rule.ends_at, remaining, tuple(rule.uk_residence))
            )
    return offers


def matched_totals(db: Session, appeal_id: int) -> dict[str, int]:
    """Match funding earned by the appeal's gifts so far, per currency (kept apart from raised)."""
    rows = db.execute(
        select(MatchAllocation.currency, func.sum(MatchAllocation.matched))
        .join(Donation, Donation.id == MatchAllocation.donation_id)
        .where(Donation.appeal_id == appeal_id)
        .group_by(MatchAllocation.currency)
    ).all()
    return {currency: int(total) for currency, total in rows if total}


def asks_postcode(offers: list[MatchOffer], currency: str) -> bool:
    """Whether a live rule for ``currency`` takes a postcode as evidence (so the form asks for one)."""
    return any("postcode" in offer.uk_residence and currency in offer.remaining for offer in offers)


def describe(offer: MatchOffer, currency: str, locale: str | None = None) -> dict[str, str] | None:
    """The donor's words for ``offer`` in ``currency``; None if it matches nothing in that currency."""
    left = offer.remaining.get(currency)
    if not left:
        return None
    if offer.ends_at is not None:
        # ends_at is the first moment not matched: the donor is told the last day that is.
        last_day = (offer.ends_at - timedelta(microseconds=1)).date()
        until = format_date(last_day, format="long", locale=babel_locale(locale))
        headline = gettext(
            "Matched %(ratio)s by %(funder)s until %(date)s", locale, ratio=offer.ratio, funder=offer.funder,
            date=until,
        )  # fmt: skip
    else:
        headline = gettext("Matched %(ratio)s by %(funder)s", locale, ratio=offer.ratio, funder=offer.funder)
    described = {
        "headline": headline,
        "remaining": gettext(
            "%(amount)s of match funding left", locale, amount=money(left, currency, locale)
        ),
    }
    if "postcode" in offer.uk_residence:
        described["eligibility"] = gettext(
            "Only gifts from UK residents are matched: your UK postcode or a Gift Aid declaration shows "
            "that you live in the UK.",
            locale,
        )
    elif offer.uk_residence:
        described["eligibility"] = gettext(
            "Only gifts from UK residents are matched: a Gift Aid declaration shows that you live in the UK.",
            locale,
        )
    return described
