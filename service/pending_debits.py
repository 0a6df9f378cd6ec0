"""Bank debits on their way: what the donor is told, read from Stripe's own objects.

A Bacs or SEPA debit completes Checkout unpaid; the charge stays ``pending`` until the bank
confirms it days later (checkout.session.async_payment_succeeded or ..._failed). The thank-you page
names the scheme, the account's last four digits and when the money should be confirmed, from the
pending charge's ``payment_method_details`` and ``created``; never a promise the service cannot keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .models import Donation, DonationStatus
from .payment_methods import BY_TYPE, expected_debit_date
from .stripe_gateway import StripeGatewayError


@dataclass(frozen=True)
class PendingDebit:
    payment_method_type: str
    scheme_name: str
    last4: str | None
    expected_by: date


def pending_debit_from_charge(charge: dict[str, Any]) -> PendingDebit | None:
    details = charge.get("payment_method_details") or {}
    kind = details.get("type") or ""
    scheme = BY_TYPE.get(kind)
    if scheme is None or charge.get("status") != "pending":
        return None
    expected = expected_debit_date(kind, datetime.fromtimestamp(int(charge["created"]), UTC))
    assert expected is not None  # a known scheme always has a date
    return PendingDebit(kind, scheme.name, (details.get(kind) or {}).get("last4"), expected)


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
