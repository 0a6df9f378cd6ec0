"""Who stopped a monthly gift, from what Stripe says and what our manage page did.

Stripe's ``cancellation_details.reason`` tells a cancellation someone asked for
(``cancellation_requested``) from one that followed the last failed retry (``payment_failed``)
or a dispute (``payment_disputed``). It does not say *who* asked: the donor in the Customer
Portal and staff in the Dashboard both read ``cancellation_requested``. We do know when our
manage page sent the donor into the portal's cancel flow (``portal_cancel_opened_at``), and only
the portal asks the donor why (``feedback``/``comment``): either means the donor; otherwise it
was staff (the Dashboard or the API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

DONOR, PAYMENT_FAILED, DISPUTE, STAFF = "donor", "payment_failed", "dispute", "staff"
WHO = (DONOR, PAYMENT_FAILED, DISPUTE, STAFF)


def cancelled_by(subscription: dict[str, Any], portal_cancel_opened_at: datetime | None) -> str:
    details = subscription.get("cancellation_details") or {}
    reason = details.get("reason")
    if reason == "payment_failed" or subscription.get("status") == "incomplete_expired":
        return PAYMENT_FAILED
    if reason == "payment_disputed":
        return DISPUTE
    if details.get("feedback") or details.get("comment") or portal_cancel_opened_at is not None:
        return DONOR
    return STAFF
