"""What we ask Stripe for: the Checkout Session parameters for one donation.

Every parameter here must be one that stripe-python's typed ``SessionCreateParams`` lists; the
sandbox enforces that in tests. Redirect URLs come from settings, never from the request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from .models import Appeal, Donation
from .settings import Settings


def checkout_idempotency_key(donation: Donation) -> str:
    """Derived from the donation id so every retry, sweep or replay maps to one session."""
    return f"donation-{donation.id}-checkout-session"


def donation_metadata(donation: Donation, appeal: Appeal, settings: Settings) -> dict[str, str]:
    metadata = {
        "donation_id": donation.id,
        "appeal": appeal.slug,
        "deployment": settings.deployment_id,
        "frequency": donation.frequency,
    }
    if donation.utm_source:
        metadata["utm_source"] = donation.utm_source[:500]
    if donation.utm_campaign:
        metadata["utm_campaign"] = donation.utm_campaign[:500]
    return metadata


def success_url(settings: Settings, appeal: Appeal) -> str:
    # Stripe substitutes {CHECKOUT_SESSION_ID}; it must stay unescaped.
    return f"{settings.public_base_url}/donate/{quote(appeal.slug)}/thanks?session_id={{CHECKOUT_SESSION_ID}}"


def cancel_url(settings: Settings, appeal: Appeal, donation: Donation) -> str:
    return f"{settings.public_base_url}/donate/{quote(appeal.slug)}/cancelled?donation={donation.id}"


def checkout_session_params(
    donation: Donation, appeal: Appeal, settings: Settings, now: datetime
) -> dict[str, Any]:
    metadata = donation_metadata(donation, appeal, settings)
    monthly = donation.frequency == "monthly"
    price_data: dict[str, Any] = {
        "currency": donation.currency,
        "unit_amount": donation.amount,
        "product_data": {
            "name": f"{'Monthly donation' if monthly else 'Donation'}: {appeal.title}",
            "description": f"To {appeal.charity_name}",
        },
    }
    if monthly:
        price_data["recurring"] = {"interval": "month"}
    params: dict[str, Any] = {
        "mode": "subscription" if monthly else "payment",
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "metadata": metadata,
        "client_reference_id": donation.id,
        "success_url": success_url(settings, appeal),
        "cancel_url": cancel_url(settings, appeal, donation),
        "expires_at": int((now + timedelta(minutes=settings.checkout_session_minutes)).timestamp()),
    }
    if donation.email:
        params["customer_email"] = donation.email
    description = f"Donation to {appeal.title}"
    if monthly:
        subscription_data: dict[str, Any] = {"metadata": metadata, "description": description}
        if appeal.stripe_account:
            subscription_data["on_behalf_of"] = appeal.stripe_account
            subscription_data["transfer_data"] = {"destination": appeal.stripe_account}
        params["subscription_data"] = subscription_data
    else:
        params["submit_type"] = "donate"
        intent_data: dict[str, Any] = {"metadata": metadata, "description": description}
        if appeal.statement_descriptor_suffix:
            intent_data["statement_descriptor_suffix"] = appeal.statement_descriptor_suffix
        if appeal.stripe_account:
            # A destination charge settles in the charity's own Stripe account.
            intent_data["on_behalf_of"] = appeal.stripe_account
            intent_data["transfer_data"] = {"destination": appeal.stripe_account}
        params["payment_intent_data"] = intent_data
    return params
