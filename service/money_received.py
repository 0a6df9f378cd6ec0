"""What counts as money received, as one SQL expression over the ledger's payments.

Progress bars, source reports and the Gift Aid schedule must agree on this, so it is defined
once: a payment the ledger recorded as succeeded, less what Stripe has refunded and less funds a
dispute has withdrawn (while it is open, or for good once lost), never below zero.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal

# Stripe dispute states in which the disputed amount has left the balance. Warnings (early
# fraud inquiries) and prevented disputes withdraw nothing; a won dispute (also after an appeal
# of a lost one) gives the money back.
FUNDS_WITHDRAWN = ("needs_response", "under_review", "lost", "appeal_needs_response", "appeal_under_review")


def payment_received_amount(less_fee_cover: Any = None) -> Any:
    """Net minor units received per payment row.

    Given the donation's fee cover column (``Donation.fee_cover_amount``, with ``Donation`` joined)
    the figure is the gift itself: the addition paid Stripe's fee, so it never counts towards an
    appeal's total. The column is passed in so that this module needs no table but payments.
    """
    from .models import Payment

    withdrawn = case(
        (Payment.dispute_status.in_(FUNDS_WITHDRAWN), func.coalesce(Payment.dispute_amount, 0)),
        else_=literal(0),
    )
    net = Payment.amount - func.coalesce(Payment.amount_refunded, 0) - withdrawn
    if less_fee_cover is not None:
        net = net - less_fee_cover
    return case(
        (Payment.status != "succeeded", literal(0)),
        (net > 0, net),
        else_=literal(0),
    )
