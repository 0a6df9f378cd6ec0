"""Which apply function handles which Stripe event type, after the checks every event gets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..stripe_gateway import API_VERSION
from . import apply_billing, apply_charges, apply_checkout, apply_mandates, apply_payouts
from .apply_context import Applied, Ignore, LedgerContext, Quarantine

log = logging.getLogger(__name__)
Handler = Callable[[LedgerContext, dict[str, Any]], Applied]

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": apply_checkout.on_session_event,
    "checkout.session.async_payment_succeeded": apply_checkout.on_session_event,
    "checkout.session.async_payment_failed": apply_checkout.on_session_event,
    "checkout.session.expired": apply_checkout.on_session_event,
    "charge.succeeded": apply_charges.on_charge_event,
    "charge.updated": apply_charges.on_charge_event,
    "charge.refunded": apply_charges.on_charge_event,
    "refund.failed": apply_charges.on_refund_event,
    "refund.updated": apply_charges.on_refund_event,
    "charge.refund.updated": apply_charges.on_refund_event,
    "charge.dispute.created": apply_charges.on_dispute_event,
    "charge.dispute.updated": apply_charges.on_dispute_event,
    "charge.dispute.closed": apply_charges.on_dispute_event,
    "charge.dispute.funds_withdrawn": apply_charges.on_dispute_event,
    "charge.dispute.funds_reinstated": apply_charges.on_dispute_event,
    "invoice.paid": apply_billing.on_invoice_paid,
    "invoice.payment_failed": apply_billing.on_invoice_payment_failed,
    "customer.subscription.updated": apply_billing.on_subscription_event,
    "customer.subscription.deleted": apply_billing.on_subscription_event,
    "mandate.updated": apply_mandates.on_mandate_updated,
    "payout.created": apply_payouts.on_payout_event,
    "payout.updated": apply_payouts.on_payout_event,
    "payout.canceled": apply_payouts.on_payout_event,
    "payout.paid": apply_payouts.on_payout_event,
    "payout.failed": apply_payouts.on_payout_event,
    "payout.reconciliation_completed": apply_payouts.on_payout_event,
}
# The events to enable on the Stripe webhook endpoint (docs/webhooks.md lists the same).
EVENT_TYPES: list[str] = sorted(HANDLERS)


# Event types whose handler reads every shape of its object the ledger knows, at any API version:
# invoices before 2025-03-31.basil named their subscription and PaymentIntent at the top level
# (apply_billing reads both). Events of other types at another version are applied and flagged.
VERSION_TOLERANT = frozenset({"invoice.paid", "invoice.payment_failed"})


def version_note(event: dict[str, Any]) -> str | None:
    """Why an event at another API version than the pinned one needs a look, or None.

    Stripe renders webhook events at the endpoint's API version (or the account's default), not
    the version the gateway pins; docs/webhooks.md tells operators to create the endpoint at the
    pinned version so this stays None.
    """
    version = event.get("api_version")
    if not isinstance(version, str) or not version or version == API_VERSION:
        return None
    if event.get("type") in VERSION_TOLERANT:
        return None
    return f"api_version {version[:40]} is not the pinned {API_VERSION}: applied, check its shape"


def handles(event_type: str) -> bool:
    return event_type in HANDLERS


def dispatch(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    """Apply one event; raises Ignore or Quarantine when it must not be applied."""
    handler = HANDLERS.get(event.get("type", ""))
    if handler is None:
        raise Ignore("event_type_not_used")
    if bool(event.get("livemode")) != ctx.live:
        raise Quarantine("livemode_mismatch")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise Quarantine("malformed_event")
    try:
        return handler(ctx, event)
    except (KeyError, TypeError, ValueError) as exc:
        # A payload missing fields we rely on is not a retryable failure: keep it for finance.
        log.warning("webhook_event_malformed", exc_info=True, extra={"stripe_event_id": event.get("id")})
        raise Quarantine(f"malformed_object: {type(exc).__name__}") from None
