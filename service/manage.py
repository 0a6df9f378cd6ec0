"""Monthly donors managing their own gift through a signed link: no account, no password.

A link names one donation and its Stripe subscription, signed with the app's SECRET_KEY
(itsdangerous, with a salt of its own so no other signed value can pass as one) and dated, so it
expires after :data:`LINK_DAYS`. It is bound to the subscription: a link for a gift whose
subscription has since changed or ended opens nothing. Every receipt of a monthly gift carries a
fresh one; a donor who lost theirs asks for a new one by email.

What a donor may do from it: update their card or stop the gift (Stripe's Customer Portal,
opened at that flow), or change the amount (our page; Stripe's subscription is updated through
the gateway and the ledger follows the ``customer.subscription.updated`` event, as it would for
a change made in Stripe's dashboard).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session

from .donations.models import Donation
from .models import utcnow
from .outbox import queue
from .settings import Settings

LINK_DAYS = 60
SALT = "donation-router.manage-monthly-gift.v1"
ENDED = ("canceled", "incomplete_expired")


class LinkRefused(Exception):  # noqa: N818 - reads as what happened to the link
    """The link cannot be used: ``reason`` is invalid, expired or ended (shown as a friendly page)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT)


def manage_token(settings: Settings, donation: Donation) -> str:
    return _serializer(settings).dumps({"d": donation.id, "s": donation.stripe_subscription_id})


def manage_url(settings: Settings, donation: Donation) -> str | None:
    """The link for a monthly gift that is still running, or None."""
    if not can_manage(donation):
        return None
    lang = "?lang=uk" if (donation.locale or "").startswith("uk") else ""
    return f"{settings.public_base_url}/manage/{manage_token(settings, donation)}{lang}"


def card_update_url(settings: Settings, donation: Donation) -> str | None:
    """Straight to Stripe's portal at "update payment method" (the failed-payment email's button).

    A GET, so a mail client can follow it; it only opens a short-lived portal session, so a link
    scanner following it first changes nothing.
    """
    url = manage_url(settings, donation)
    if url is None:
        return None
    path, _, query = url.partition("?")
    return f"{path}/card" + (f"?{query}" if query else "")


def link_expires(now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(days=LINK_DAYS)


def can_manage(donation: Donation) -> bool:
    return (
        donation.frequency == "monthly"
        and bool(donation.stripe_subscription_id and donation.stripe_customer_id)
        and donation.subscription_status not in ENDED
    )


def read_token(settings: Settings, token: str) -> tuple[str, str]:
    try:
        data: Any = _serializer(settings).loads(token, max_age=LINK_DAYS * 86_400)
    except SignatureExpired:
        raise LinkRefused("expired") from None
    except BadSignature:
        raise LinkRefused("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str) or not isinstance(data.get("s"), str):
        raise LinkRefused("invalid")
    return data["d"], data["s"]


def managed_gift(db: Session, settings: Settings, token: str) -> Donation:
    """The running monthly gift the link names; LinkRefused otherwise (and nothing is changed)."""
    donation_id, subscription_id = read_token(settings, token)
    donation = db.get(Donation, donation_id)
    if donation is None or donation.stripe_subscription_id != subscription_id:
        raise LinkRefused("invalid")
    if not can_manage(donation):
        raise LinkRefused("ended")
    return donation


def subscription_amount(subscription: dict[str, Any]) -> tuple[int, str, str] | None:
    """(amount per period, currency, price id) of a one-item subscription, or None."""
    items = ((subscription.get("items") or {}).get("data")) or []
    if len(items) != 1:
        return None
    price = items[0].get("price") or {}
    if not isinstance(price.get("unit_amount"), int):
        return None
    quantity = items[0].get("quantity") or 1
    return price["unit_amount"] * quantity, str(price.get("currency", "")).lower(), str(price.get("id"))


def follow_amount_change(db: Session, donation: Donation, subscription: dict[str, Any]) -> bool:
    """Bring the gift's amount in line with its subscription's price; queues the confirmation.

    The new amount is the whole gift (any earlier fee cover is folded in: the donor chose a new
    total). Keyed by the new price, so the event and our own page recording it give one email.
    """
    found = subscription_amount(subscription)
    if found is None:
        return False
    amount, currency, price_id = found
    if currency != donation.currency or amount == donation.charge_amount or amount <= 0:
        return False
    previous = donation.charge_amount
    db.execute(
        update(Donation)
        .where(Donation.id == donation.id)
        .values(amount=amount, fee_cover_amount=0, updated_at=utcnow())
    )
    queue(
        db,
        f"gift_changed:{donation.stripe_subscription_id}:{price_id}",
        "gift_changed",
        donation_id=donation.id,
        context={"previous_amount": previous, "new_amount": amount},
    )
    return True


def note_cancel_flow_opened(db: Session, donation: Donation) -> None:
    """The donor is on their way to the portal's cancel flow: a cancellation now is theirs
    (service/cancellations.py). Committed before the portal is opened."""
    db.execute(update(Donation).where(Donation.id == donation.id).values(portal_cancel_opened_at=utcnow()))
    db.commit()
