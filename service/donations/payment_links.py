"""Pre-created Stripe Payment Links, one per appeal and currency: surge mode's fallback.

A Payment Link is made before the night (``flask surge payment-links create``), so sending a
donor to it costs no Stripe API call at all. Its price lets the donor choose the amount
(``custom_unit_amount``), preset to the appeal's middle suggested amount. The donation row is
still written first; the donor's link carries its id as ``client_reference_id`` and the webhook
ledger attributes the payment through it (service/donations/surge.py). The table is
:class:`service.donations.models.PaymentLink`.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Appeal
from ..settings import Settings
from .models import PaymentLink


def find_link(db: Session, appeal_id: int, currency: str) -> PaymentLink | None:
    return db.scalar(
        select(PaymentLink).where(PaymentLink.appeal_id == appeal_id, PaymentLink.currency == currency)
    )


def find_by_stripe_id(db: Session, stripe_payment_link_id: str) -> PaymentLink | None:
    return db.scalar(select(PaymentLink).where(PaymentLink.stripe_payment_link_id == stripe_payment_link_id))


def donor_url(link: PaymentLink, donation_id: str) -> str:
    """The link for one donor: Payment Links copy ``client_reference_id`` onto the session."""
    separator = "&" if "?" in link.url else "?"
    return f"{link.url}{separator}{urlencode({'client_reference_id': donation_id})}"


def link_params(appeal: Appeal, currency: str, settings: Settings) -> tuple[dict, dict, dict]:
    """Product, price and link parameters (each checked against stripe-python's typed params)."""
    suggested = sorted(appeal.suggested_amounts.get(currency) or [appeal.minimum_amounts[currency]])
    product = {
        "name": f"Donation: {appeal.title}",
        "description": f"To {appeal.charity_name}",
        "metadata": {"appeal": appeal.slug, "deployment": settings.deployment_id},
    }
    price = {
        "currency": currency,
        "custom_unit_amount": {
            "enabled": True,
            "minimum": appeal.minimum_amounts[currency],
            "maximum": appeal.maximum_amounts[currency],
            "preset": suggested[len(suggested) // 2],
        },
    }
    thanks = (
        f"{settings.public_base_url}/donate/{quote(appeal.slug)}/thanks?session_id={{CHECKOUT_SESSION_ID}}"
    )
    earmark = {"appeal": appeal.slug, "deployment": settings.deployment_id, "surge": "payment_link"}
    intent_data: dict = {
        # The earmark travels on the payment itself (its charge and the Dashboard show it), as on
        # a Checkout Session of our own; the donation is named by client_reference_id.
        "metadata": dict(earmark),
        "description": f"Donation to {appeal.title}",
    }
    if appeal.statement_descriptor_suffix:
        intent_data["statement_descriptor_suffix"] = appeal.statement_descriptor_suffix
    link: dict = {
        # The session inherits this metadata.
        "metadata": earmark,
        "after_completion": {"type": "redirect", "redirect": {"url": thanks}},
        "submit_type": "donate",
        "payment_intent_data": intent_data,
    }
    if appeal.stripe_account:
        # Routed to the charity exactly as a donation's own Checkout Session is (service/donations/checkout.py):
        # a destination charge, the charity the settlement merchant. A link's donor chooses the
        # amount and adds no fee cover, so the whole payment is transferred.
        link["on_behalf_of"] = appeal.stripe_account
        link["transfer_data"] = {"destination": appeal.stripe_account}
    return product, price, link
