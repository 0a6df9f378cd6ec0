"""Bank debits on their way: what the donor is told, read from Stripe's own objects.

A Bacs or SEPA debit completes Checkout unpaid; the charge stays ``pending`` until the bank
confirms it days later (checkout.session.async_payment_succeeded or ..._failed). The thank-you page
names the scheme, the account's last four digits and the day the debit will be taken, from the
pending charge's ``payment_method_details`` (Stripe's ``expected_debit_date``), or else when it
should be confirmed, estimated from ``created``; never a promise the service cannot keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .donations.models import Donation, DonationStatus
from .payment_methods import BY_TYPE, expected_debit_date
from .stripe_gateway import StripeGatewayError


@dataclass(frozen=True)
class PendingDebit:
    payment_method_type: str
    scheme_name: str
    last4: str | None
    expected_by: date  # when the bank should have confirmed it (our estimate from the scheme)
    debit_on: date | None = None  # when Stripe asks the bank for the money, as Stripe reports it


def pending_debit_from_charge(charge: dict[str, Any]) -> PendingDebit | None:
    details = charge.get("payment_method_details") or {}
    kind = details.get("type") or ""
    scheme = BY_TYPE.get(kind)
    if scheme is None or charge.get("status") != "pending":
        return None
    method = details.get(kind) or {}
    expected = expected_debit_date(kind, datetime.fromtimestamp(int(charge["created"]), UTC))
    assert expected is not None  # a known scheme always has a date
    # Stripe's own date (Charge.payment_method_details.bacs_debit/sepa_debit.expected_debit_date),
    # after the advance notice it sends the donor; absent on older API versions.
    debit_on = _date(method.get("expected_debit_date"))
    return PendingDebit(kind, scheme.name, method.get("last4"), max(expected, debit_on or expected), debit_on)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def pending_debit(gateway: Any, donation: Donation) -> PendingDebit | None:
    """The donation's debit still waiting for the bank, or None (not a debit, settled, or Stripe away).

    A one-off gift's debit is its session's PaymentIntent; a monthly gift's first debit is the
    PaymentIntent of its subscription's first invoice, found through the Invoice Payments API
    (invoices no longer name their PaymentIntent since API 2025-03-31).
    """
    if donation.status != DonationStatus.PROCESSING:
        return None
    try:
        intent = donation.stripe_payment_intent_id or _first_invoice_intent(gateway, donation)
        if not intent:
            return None
        charges = gateway.charges_for_payment_intent(intent)
    except StripeGatewayError:
        return None  # the page still says the payment is processing; the date is a courtesy
    for charge in charges:
        found = pending_debit_from_charge(charge)
        if found is not None:
            return found
    return None


def _first_invoice_intent(gateway: Any, donation: Donation) -> str | None:
    if not donation.stripe_subscription_id:
        return None
    invoice = gateway.retrieve_subscription(donation.stripe_subscription_id).get("latest_invoice")
    invoice_id = invoice.get("id") if isinstance(invoice, dict) else invoice
    if not invoice_id:
        return None
    for entry in gateway.invoice_payments(invoice_id):
        payment = entry.get("payment") or {}
        if payment.get("type") == "payment_intent" and payment.get("payment_intent"):
            intent = payment["payment_intent"]
            return intent.get("id") if isinstance(intent, dict) else str(intent)
    return None
