"""What we ask Stripe for: the Checkout Session parameters for one donation, and asking for it
within the shared call budget (:func:`create_session_within`).

Every parameter here must be one that stripe-python's typed ``SessionCreateParams`` lists; the
sandbox enforces that in tests. Redirect URLs come from settings, never from the request.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..i18n import gettext, money
from ..models import Appeal
from ..payment_methods import PAY_BY_BANK_DEBIT, allowed_payment_method_types, excluded_payment_method_types
from ..settings import Settings
from ..stripe_gateway import CheckoutSession, StripeGateway, StripeGatewayError
from .models import Donation

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


# Stripe takes expires_at "30 minutes to 24 hours after Checkout Session creation" on *its*
# clock (stripe-python's SessionCreateParams.expires_at; docs.stripe.com/payments/checkout/
# managing-limited-inventory): keep this much more than 30 minutes from the moment of the call,
# and this much less than 24 hours, for a clock that is a little off Stripe's.
CLOCK_SKEW_MARGIN = timedelta(minutes=2)
MIN_EXPIRY = timedelta(minutes=30) + CLOCK_SKEW_MARGIN
MAX_EXPIRY = timedelta(hours=24) - CLOCK_SKEW_MARGIN
# A retry moments after a lost response must send exactly the same parameters (so Stripe replays
# the session it made); a retry much later needs a later expires_at. expires_at therefore moves
# in whole steps from the donation's creation, only when the previous value is too close.
EXPIRY_STEP = timedelta(minutes=15)


def session_expires_at(created_at: datetime, now: datetime, minutes: int) -> datetime:
    """created_at + minutes, moved on by whole EXPIRY_STEPs until it is MIN_EXPIRY after ``now``.

    Always between MIN_EXPIRY and max(minutes, MIN_EXPIRY + EXPIRY_STEP) after ``now``, and the
    same value for every call within one step, whenever the row was created.
    """
    lifetime = min(timedelta(minutes=minutes), MAX_EXPIRY)
    expires = created_at + lifetime
    short = now + MIN_EXPIRY - expires
    if short > timedelta(0):
        steps = -(-short // EXPIRY_STEP)  # ceiling division of timedeltas
        expires += steps * EXPIRY_STEP
    return expires


def checkout_idempotency_key(donation: Donation, params: dict[str, Any]) -> str:
    """The donation id plus a digest of exactly what is sent.

    A retry with the same parameters (a lost response, a double submit, the sweeper moments
    later) reuses the key, and Stripe replays the session it already made. Different parameters
    (a later expires_at, a changed setting or appeal title) get a new key: Stripe refuses a key
    reused with other parameters (``idempotency_error``), which would otherwise turn a
    harmless retry into a permanent rejection.
    """
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"donation-{donation.id}-checkout-{digest[:24]}"


def donation_metadata(donation: Donation, appeal: Appeal, settings: Settings) -> dict[str, str]:
    metadata = {
        "donation_id": donation.id,
        "appeal": appeal.slug,
        "deployment": settings.deployment_id,
        "frequency": donation.frequency,
    }
    # Attribution travels with the payment so Stripe's dashboard and exports can tell which
    # article raised it; Stripe caps metadata values at 500 characters.
    for key in ("source_url", "referrer_host", *UTM_KEYS):
        value = getattr(donation, key)
        if value:
            metadata[key] = value[:500]
    if donation.fee_cover_amount:
        metadata["gift_amount"] = str(donation.amount)
        metadata["fee_cover_amount"] = str(donation.fee_cover_amount)
    if donation.anonymous:
        metadata["anonymous"] = "true"
    if donation.gift_aid:
        metadata["gift_aid"] = "true"
    return metadata


def success_url(settings: Settings, appeal: Appeal, locale: str | None = None) -> str:
    # Stripe substitutes {CHECKOUT_SESSION_ID}; it must stay unescaped. The donor's language comes
    # back with them, so the thank-you page speaks it too.
    lang = f"&lang={quote(locale)}" if locale and locale != "en" else ""
    return f"{settings.public_base_url}/donate/{quote(appeal.slug)}/thanks?session_id={{CHECKOUT_SESSION_ID}}{lang}"


def cancel_url(settings: Settings, appeal: Appeal, donation: Donation) -> str:
    lang = f"&lang={quote(donation.locale)}" if donation.locale and donation.locale != "en" else ""
    return f"{settings.public_base_url}/donate/{quote(appeal.slug)}/cancelled?donation={donation.id}{lang}"


def checkout_session_params(
    donation: Donation, appeal: Appeal, settings: Settings, now: datetime, created_at: datetime | None = None
) -> dict[str, Any]:
    """``now`` is the moment of the call; ``created_at`` (the donation row's, by default ``now``)
    anchors expires_at so that retries in quick succession send identical parameters."""
    created_at = created_at or now
    metadata = donation_metadata(donation, appeal, settings)
    monthly = donation.frequency == "monthly"
    price_data: dict[str, Any] = {
        "currency": donation.currency,
        # One line item for gift and fee cover together: subscriptions bill a single price, and the
        # description tells the donor how the total is made up before they pay.
        "unit_amount": donation.charge_amount,
        "product_data": {
            "name": (
                gettext("Monthly donation: %(title)s", donation.locale or "en", title=appeal.title)
                if monthly
                else gettext("Donation: %(title)s", donation.locale or "en", title=appeal.title)
            ),
            "description": _description(donation, appeal),
        },
    }
    if monthly:
        price_data["recurring"] = {"interval": "month"}
    params: dict[str, Any] = {
        "mode": "subscription" if monthly else "payment",
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "metadata": metadata,
        "client_reference_id": donation.id,
        "success_url": success_url(settings, appeal, donation.locale),
        "cancel_url": cancel_url(settings, appeal, donation),
        "expires_at": int(session_expires_at(created_at, now, settings.checkout_session_minutes).timestamp()),
    }
    if donation.email:
        params["customer_email"] = donation.email
    # Never payment_method_types (API 2026-09-30.endive refuses it). A donor who chose Direct
    # Debit gets that scheme alone, through allowed_payment_method_types, a filter on what the
    # Dashboard enables; everyone else gets the Dashboard's methods, less a bank debit this appeal
    # or gift may not use (service/payment_methods.py explains both, with Stripe's words).
    if donation.pay_by == PAY_BY_BANK_DEBIT:
        params["allowed_payment_method_types"] = allowed_payment_method_types(donation.currency)
    else:
        excluded = excluded_payment_method_types(
            appeal, donation.currency, donation.frequency, donation.charge_amount
        )
        if excluded:
            params["excluded_payment_method_types"] = excluded
    description = f"Donation to {appeal.title}"
    # "Donate" on Checkout's button for monthly gifts too: subscription mode accepts submit_type
    # since API 2024-11-20 (stripe-python 16.1's SessionCreateParams.submit_type).
    params["submit_type"] = "donate"
    if monthly:
        subscription_data: dict[str, Any] = {"metadata": metadata, "description": description}
        if appeal.stripe_account:
            subscription_data["on_behalf_of"] = appeal.stripe_account
            subscription_data["transfer_data"] = charity_transfer(donation, appeal.stripe_account)
        params["subscription_data"] = subscription_data
    else:
        intent_data: dict[str, Any] = {"metadata": metadata, "description": description}
        if appeal.statement_descriptor_suffix:
            intent_data["statement_descriptor_suffix"] = appeal.statement_descriptor_suffix
        if appeal.stripe_account:
            # A destination charge settles in the charity's own Stripe account.
            intent_data["on_behalf_of"] = appeal.stripe_account
            intent_data["transfer_data"] = charity_transfer(donation, appeal.stripe_account)
        params["payment_intent_data"] = intent_data
    return params


def charity_transfer(donation: Donation, destination: str) -> dict[str, Any]:
    """``transfer_data`` for a destination charge: the charity receives the whole gift, never less.

    On a destination charge the platform's balance pays Stripe's fee and the transfer carries
    what the charity receives (Stripe: "Your account balance is debited for the cost of the Stripe
    fees, refunds, and chargebacks", docs.stripe.com/connect/destination-charges). The donor's fee
    cover therefore stays with the platform, which pays the fee from it: a one-off transfer is the
    gift exactly (``transfer_data.amount``, "the amount that will be transferred automatically when
    a charge succeeds"); a subscription takes only a percentage of each invoice
    (``amount_percent``, at most two decimals), rounded up so the transfer is never below the gift.
    Without fee cover the whole payment is transferred. docs/finance.md explains the split.
    """
    transfer: dict[str, Any] = {"destination": destination}
    if not donation.fee_cover_amount:
        return transfer
    if donation.frequency == "monthly":
        transfer["amount_percent"] = transfer_percent(donation.amount, donation.charge_amount)
    else:
        transfer["amount"] = donation.amount
    return transfer


def transfer_percent(gift: int, total: int) -> float:
    """The smallest two-decimal percentage of ``total`` that is at least ``gift``."""
    hundredths = -(-gift * 10_000 // total)  # ceiling of gift / total in 0.01 % steps
    return min(hundredths, 10_000) / 100


def _description(donation: Donation, appeal: Appeal) -> str:
    """Shown on Checkout under the name, in the donor's language: how the total is made up."""
    # Never the request's language: a retry must send Stripe exactly the same parameters.
    locale = donation.locale or "en"
    if not donation.fee_cover_amount:
        return gettext("To %(charity)s", locale, charity=appeal.charity_name)
    return gettext(
        "To %(charity)s: your gift of %(gift)s plus %(cover)s to cover processing fees",
        locale,
        charity=appeal.charity_name,
        gift=money(donation.amount, donation.currency, locale),
        cover=money(donation.fee_cover_amount, donation.currency, locale),
    )


def create_session_within(
    gateway: StripeGateway,
    params: dict[str, Any],
    idempotency_key: str,
    seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckoutSession:
    """Create the session, waiting for budget and retrying Stripe's 429s until ``seconds`` pass.

    The idempotency key makes each retry safe: Stripe returns the first session if an earlier
    attempt did reach it.
    """
    deadline = clock() + seconds
    while True:
        remaining = deadline - clock()
        try:
            return gateway.create_checkout_session(params, idempotency_key, budget_wait=max(0.0, remaining))
        except StripeGatewayError as exc:
            if exc.kind != "rate_limited" or exc.code == "call_budget_spent":
                raise  # the budget already waited as long as we may
            # Stripe's 429: back off with jitter so retries from many donors spread out.
            pause = 0.2 + random.random() * 0.3  # noqa: S311 - jitter, not security
            if clock() + pause >= deadline:
                raise
            sleep(pause)
