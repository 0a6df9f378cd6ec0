"""Surge mode: when Stripe's rate limit (or our own call budget) says no, no donor is turned away.

Creating a Checkout Session first waits for the shared call budget and retries Stripe's 429s,
within ``SURGE_WAIT_SECONDS`` (service/donations/checkout.py: create_session_within). If that time
runs out, creation (service/donations/create.py) chooses this alternative: a one-off donation is sent to its appeal's
pre-created Payment Link instead (no Stripe call at all), carrying the donation id as
``client_reference_id``; the row moves to ``surge_redirected``. The webhook ledger then
attributes the link's ``checkout.session.completed`` to that donation (:func:`attributed_donation`).
Each visit to a link opens a new Checkout Session: only the one that completes is the donation's,
and the others expire without touching it. The link's charge names no donation, so the ledger
fetches its fee when the session completes, and the thank-you page asks Stripe for the session
before the webhook has arrived. A link of a Connect appeal routes its payments to the charity as
a donation's own session does (service/donations/payment_links.py).

Monthly gifts are not redirected: a Payment Link's price is one-off, and quietly turning a
monthly gift into a single one would not be what the donor chose.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import metrics
from ..appeals import list_appeals
from ..db import each_statement_commits
from ..models import utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .models import Donation, DonationStatus, PaymentLink
from .payment_links import donor_url, find_by_stripe_id, find_link, link_params

log = logging.getLogger(__name__)

# Statuses a donation may be redirected from: no Checkout Session exists for it yet.
REDIRECTABLE = (DonationStatus.CREATED, DonationStatus.CHECKOUT_ERROR)
REDIRECTED_COLUMNS = ("status", "checkout_url", "checkout_attempts", "updated_at")
# When this process last sent a donor to a Payment Link (time.monotonic): while surging, nothing
# should steer donors towards monthly gifts, which have no Payment Link to fall back on.
_last_redirect = float("-inf")
SURGE_QUIET_SECONDS = 300.0


def recently_surging(now: float | None = None) -> bool:
    """Whether this process redirected a donor to a Payment Link in the last five minutes."""
    return (now if now is not None else time.monotonic()) - _last_redirect < SURGE_QUIET_SECONDS


def redirect_to_payment_link(
    db: Session, donation: Donation, reason: str = "stripe_budget"
) -> Donation | None:
    """Point the donation at its appeal's Payment Link; None if there is none to offer.

    ``reason``: ``stripe_budget`` (Stripe or our call budget said no within the wait) or
    ``service_rate`` (the request came past the service's donation rate, service/rate_limits.py).
    """
    if donation.frequency != "one_off":
        return None
    # Past the service's donation rate this is the hot path of a telethon: the link's read and
    # the donation's UPDATE each in one round trip (nothing here needs them in one transaction:
    # the UPDATE only moves a donation that still has no session or link).
    each_statement_commits(db)
    link = find_link(db, donation.appeal_id, donation.currency)
    if link is None:
        log.warning(
            "surge_no_payment_link", extra={"donation_id": donation.id, "currency": donation.currency}
        )
        db.commit()
        return None
    moved = db.execute(
        update(Donation)
        .where(Donation.id == donation.id, Donation.status.in_(REDIRECTABLE))
        .values(
            status=DonationStatus.SURGE_REDIRECTED,
            checkout_url=donor_url(link, donation.id),
            checkout_attempts=Donation.checkout_attempts + 1,
            updated_at=utcnow(),
        )
        .returning(*(Donation.__table__.c[name] for name in REDIRECTED_COLUMNS))
    ).first()
    db.commit()
    if moved is None:  # a concurrent request already gave it a session or a link
        return db.get(Donation, donation.id, populate_existing=True)
    for name in REDIRECTED_COLUMNS:
        set_committed_value(donation, name, getattr(moved, name))
    global _last_redirect
    _last_redirect = time.monotonic()
    metrics.surge_redirected(reason)
    log.info(
        "surge_redirected",
        extra={"donation_id": donation.id, "payment_link": link.stripe_payment_link_id, "reason": reason},
    )
    return donation


class NotAttributable(Exception):  # noqa: N818 - the ledger turns it into a quarantine
    def __init__(self, reason: str, donation_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.donation_id = donation_id


def attributed_donation(db: Session, session: dict[str, Any]) -> Donation | None:
    """The donation a Payment Link session paid for, or None if the session is not from a link.

    Raises NotAttributable when the link is ours but the session cannot be tied to a donation of
    that link's appeal and currency (a copied URL, an edited ``client_reference_id``).
    """
    link_id = session.get("payment_link")
    if not isinstance(link_id, str) or not link_id:
        return None
    link = find_by_stripe_id(db, link_id)
    if link is None:
        raise NotAttributable("unknown_payment_link")
    reference = session.get("client_reference_id")
    donation = db.get(Donation, reference) if isinstance(reference, str) else None
    if donation is None:
        raise NotAttributable("payment_link_without_donation")
    currency = str(session.get("currency") or "").lower()
    if (
        donation.appeal_id != link.appeal_id
        or donation.currency != link.currency
        or currency != link.currency
    ):
        raise NotAttributable("payment_link_other_appeal", donation.id)
    amount = session.get("amount_total")
    if (
        donation.status == DonationStatus.SURGE_REDIRECTED
        and isinstance(amount, int)
        and amount != donation.amount
    ):
        # The donor chose the amount again on the link's page; the ledger records what was paid.
        db.execute(
            update(Donation).where(Donation.id == donation.id).values(amount=amount, fee_cover_amount=0)
        )
        db.refresh(donation)
    return donation


def create_payment_links(
    db: Session, gateway: StripeGateway, settings: Settings, slug: str | None = None
) -> list[tuple[PaymentLink, bool]]:
    """Make the missing links for one appeal (or every open one); returns each link and whether it is new."""
    appeals = [a for a in list_appeals(db) if (a.slug == slug if slug else a.is_open())]
    results: list[tuple[PaymentLink, bool]] = []
    for appeal in appeals:
        for currency in appeal.currencies:
            existing = find_link(db, appeal.id, currency)
            if existing is not None:
                results.append((existing, False))
                continue
            product, price, params = link_params(appeal, currency, settings)
            key = f"{settings.deployment_id}-surge-link-{appeal.slug}-{currency}"
            created = gateway.create_payment_link(product, price, params, key)
            link = PaymentLink(
                appeal_id=appeal.id,
                currency=currency,
                stripe_payment_link_id=created["id"],
                url=created["url"],
            )
            db.add(link)
            db.flush()
            results.append((link, True))
    return results
