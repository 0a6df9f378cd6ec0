"""Bank mandates: ``mandate.updated`` keeps a Direct Debit gift's mandate state for finance.

Checkout collects a Bacs or SEPA mandate with the donor's first debit, and every renewal is
debited on it. A donor can cancel it at their bank at any time (the Direct Debit Guarantee); Stripe
then marks the mandate ``inactive`` and sends ``mandate.updated`` (Bacs also reports
``payment_method_details.bacs_debit.network_status`` ``revoked`` with a ``revocation_reason``:
stripe-python 16.1's Mandate.PaymentMethodDetails.BacsDebit; docs.stripe.com/payments/bacs-debit).
A mandate does not become active again: the next renewal on it fails
(``invoice.payment_failed``, retried on Stripe's schedule and then the subscription ends, as
apply_billing.py records), so finance sees the gift as at risk before that happens, and the
donor's "could not be taken" email asks for a new way to pay rather than a new card.

The mandate names no donation (no metadata): the ledger finds the gift by the mandate id it
remembered from the gift's paid debit (payments.remember_mandate). A mandate of a debit the
ledger has not seen paid (the first debit still on its way, or refused, which the session's own
events report) is ignored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update

from ..donations.models import Donation
from .apply_context import Applied, Ignore, LedgerContext, timestamp

STATUSES = ("active", "inactive", "pending")


def on_mandate_updated(ctx: LedgerContext, event: dict[str, Any]) -> Applied:
    mandate = event["data"]["object"]
    mandate_id, status = mandate.get("id"), mandate.get("status")
    if not isinstance(mandate_id, str) or status not in STATUSES:
        raise Ignore("mandate_without_id_or_status")
    donation_ids = list(ctx.db.scalars(select(Donation.id).where(Donation.stripe_mandate_id == mandate_id)))
    if not donation_ids:
        raise Ignore("mandate_not_of_a_paid_debit")
    at = timestamp(event.get("created"))
    changed = False
    for donation_id in donation_ids:
        # The latest event wins: two updates may arrive in either order.
        newer = (
            Donation.mandate_status_at.is_(None)
            if at is None
            else or_(Donation.mandate_status_at.is_(None), Donation.mandate_status_at <= at)
        )
        result = ctx.db.execute(
            update(Donation)
            .where(Donation.id == donation_id, Donation.mandate_status.is_distinct_from(status), newer)
            .values(mandate_status=status, mandate_status_at=at)
        )
        changed |= bool(result.rowcount)  # type: ignore[attr-defined]
    return Applied(donation_ids[0], changed)
