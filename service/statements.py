"""Annual statements: one email per donor and tax year listing each gift, with Gift Aid wording.

The tax year is the UK's (6 April to 5 April) or the calendar year (``TAX_YEAR``). In the first
weeks after a year ends the worker queues one statement per address that gave in it (daily, so a
missed day is made up; the message id is the year and a hash of the address, so each donor gets
one). What the statement lists is read when it is sent: every payment of that address in the
year, less what was refunded, totalled per currency (amounts in different currencies are never
added together).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .donations.models import Donation
from .models import Payment
from .outbox import queue

QUEUE_FOR_DAYS = 28


@dataclass(frozen=True)
class TaxYear:
    start: date  # first day
    end: date  # first day of the next year

    @property
    def label(self) -> str:
        if self.start.month == 1 and self.start.day == 1:
            return str(self.start.year)
        return f"{self.start.year}-{str(self.end.year)[2:]}"

    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, datetime.min.time(), UTC),
                datetime.combine(self.end, datetime.min.time(), UTC))  # fmt: skip


def tax_year_containing(kind: str, day: date) -> TaxYear:
    if kind == "calendar":
        return TaxYear(date(day.year, 1, 1), date(day.year + 1, 1, 1))
    first = day.year if day >= date(day.year, 4, 6) else day.year - 1
    return TaxYear(date(first, 4, 6), date(first + 1, 4, 6))


def last_completed(kind: str, today: date) -> TaxYear:
    return tax_year_containing(kind, tax_year_containing(kind, today).start - timedelta(days=1))


def address_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]


def queue_statements(db: Session, kind: str, today: date, *, force: bool = False) -> int:
    """Queue the statements of the year that ended most recently; commits. Returns how many were new."""
    year = last_completed(kind, today)
    if not force and today - year.end >= timedelta(days=QUEUE_FOR_DAYS):
        return 0
    start, end = year.bounds()
    rows = db.execute(
        select(func.lower(Donation.email), func.max(Donation.id))
        .join(Payment, Payment.donation_id == Donation.id)
        .where(Donation.email.is_not(None), Payment.paid_at >= start, Payment.paid_at < end)
        .group_by(func.lower(Donation.email))
    ).all()
    new = 0
    for email, donation_id in rows:
        new += queue(
            db,
            f"statement:{year.label}:{address_key(email)}",
            "annual_statement",
            donation_id=donation_id,
            context={"start": year.start.isoformat(), "end": year.end.isoformat(), "label": year.label},
        )
    db.commit()
    return new


@dataclass(frozen=True)
class StatementLine:
    paid_at: datetime
    appeal: str
    charity: str
    amount: int  # after refunds
    currency: str
    gift_aid: bool


def statement_lines(db: Session, email: str, start: datetime, end: datetime) -> list[StatementLine]:
    rows = db.execute(
        select(Payment, Donation)
        .join(Donation, Payment.donation_id == Donation.id)
        .where(func.lower(Donation.email) == email.lower(), Payment.paid_at >= start, Payment.paid_at < end)
        .order_by(Payment.paid_at)
    ).all()
    lines = []
    for payment, donation in rows:
        kept = payment.amount - (payment.amount_refunded or 0)
        if kept <= 0:
            continue
        declared = bool(donation.gift_aid and donation.gift_aid_declared_at)
        lines.append(StatementLine(payment.paid_at or start, donation.appeal.title, donation.appeal.charity_name,
                                   kept, payment.currency, declared))  # fmt: skip
    return lines
