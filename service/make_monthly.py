"""The "make it monthly" link in a one-off gift's receipt.

A signed, dated link (itsdangerous, a salt of its own, :data:`LINK_DAYS` like the manage links)
naming one paid one-off donation. Opening it starts a *new* monthly gift to the same appeal: the
donor lands on the donate page with monthly chosen and the amount and currency filled in (the
monthly offer's rule, about a third of the one-off gift: service/donations/monthly_offer.py), and
goes through the form and Checkout as any donor does. The paid gift is never touched. The link is
left out when the appeal or the service does not offer monthly gifts (``monthly_offer``), or the
appeal closes on a date.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from .donations.models import Donation, DonationStatus
from .donations.monthly_offer import suggested_monthly_amount
from .settings import Settings

LINK_DAYS = 60
SALT = "donation-router.make-it-monthly.v1"
# Where the donate page's attribution says the new gift came from (finance sees the conversions).
SOURCE = {"utm_source": "receipt", "utm_medium": "email", "utm_campaign": "make-it-monthly"}


class LinkRefused(Exception):  # noqa: N818 - reads as what happened to the link
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT)


def monthly_amount(donation: Donation) -> int | None:
    return suggested_monthly_amount(donation.appeal, donation.amount, donation.currency)


def offered(settings: Settings, donation: Donation) -> bool:
    appeal = donation.appeal
    return (
        donation.frequency == "one_off"
        and settings.monthly_offer
        and appeal.monthly_offer
        and appeal.closes_at is None
        and appeal.is_open()
        and monthly_amount(donation) is not None
    )


def make_monthly_url(settings: Settings, donation: Donation) -> str | None:
    """The receipt's link for this one-off gift, or None where no monthly gift is offered."""
    if not offered(settings, donation):
        return None
    token = _serializer(settings).dumps({"d": donation.id})
    lang = "?lang=uk" if (donation.locale or "").startswith("uk") else ""
    return f"{settings.public_base_url}/give-monthly/{token}{lang}"


def donate_page_query(db: Session, settings: Settings, token: str) -> tuple[str, dict[str, Any]]:
    """(appeal slug, donate page query) for a valid link; LinkRefused otherwise. Changes nothing."""
    try:
        data: Any = _serializer(settings).loads(token, max_age=LINK_DAYS * 86_400)
    except SignatureExpired:
        raise LinkRefused("expired") from None
    except BadSignature:
        raise LinkRefused("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        raise LinkRefused("invalid")
    donation = db.get(Donation, data["d"])
    if donation is None or donation.frequency != "one_off" or donation.status == DonationStatus.CREATED:
        raise LinkRefused("invalid")
    if not offered(settings, donation):
        raise LinkRefused("not_offered")
    query: dict[str, Any] = {
        "frequency": "monthly",
        "amount": monthly_amount(donation),
        "currency": donation.currency,
        **SOURCE,
    }
    if donation.locale and donation.locale != "en":
        query["lang"] = donation.locale
    return donation.appeal.slug, query


def donate_page_url(slug: str, query: dict[str, Any]) -> str:
    return f"/donate/{slug}?{urlencode(query)}"
