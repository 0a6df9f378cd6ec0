"""Money an appeal's donations have received, per currency: the figure the public progress bar
shows (service/progress.py) and that an appeal's "stop when funded" compares with its goal
(service/donations/successors.py). Gifts only: fee cover and refunds are left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Payment
from ..money_received import payment_received_amount
from .models import Donation


class ReceivedTotal(NamedTuple):
    currency: str
    amount: int
    gifts: int  # donations with money received in this currency
    updated_at: datetime | None  # the latest change to one of its payments


def received_by_currency(db: Session, appeal_id: int) -> list[ReceivedTotal]:
    """One aggregate over the appeal's payments, per currency, in currency order."""
    received = payment_received_amount(less_fee_cover=Donation.fee_cover_amount)
    rows = db.execute(
        select(
            Payment.currency,
            func.sum(received),
            func.count(func.distinct(Donation.id)).filter(received > 0),
            func.max(Payment.updated_at),
        )
        .join(Donation, Donation.id == Payment.donation_id)
        .where(Donation.appeal_id == appeal_id)
        .group_by(Payment.currency)
        .order_by(Payment.currency)
    ).all()
    return [ReceivedTotal(cur, int(amount or 0), int(gifts or 0), last) for cur, amount, gifts, last in rows]
