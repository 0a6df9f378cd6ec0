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
    """The donation's debit still waiting for the bank, or None (not a debit, settled, or Stripe away)."""
    if donation.status != DonationStatus.PROCESSING or not donation.stripe_payment_intent_id:
        return None
    try:
        charges = gateway.charges_for_payment_intent(donation.stripe_payment_intent_id)
    except StripeGatewayError:
        return None  # the page still says the payment is processing; the date is a courtesy
    for charge in charges:
        found = pending_debit_from_charge(charge)
        if found is not None:
            return found
    return None
