"""The Gift Aid claim schedule: one row per payment received on a gift with a declaration, in the
columns of HMRC's Charities Online Gift Aid schedule spreadsheet (the declaration itself is
service/gift_aid.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...currencies import to_major
from ...donations.models import Donation
from ...models import Appeal, Payment
from ...money_received import payment_received_amount

UK_TIME = ZoneInfo("Europe/London")
SCHEDULE_COLUMNS = (
    "Title",
    "First name",
    "Last name",
    "House name or number",
    "Postcode",
    "Aggregated donations",
    "Sponsored event",
    "Donation date",
    "Amount",
)


@dataclass(frozen=True)
class ScheduleRow:
    title: str
    first_name: str
    last_name: str
    house: str
    postcode: str
    donation_date: str
    amount: str
    donation_id: str

    def cells(self) -> list[str]:
        return [
            self.title, self.first_name, self.last_name, self.house, self.postcode,
            "", "", self.donation_date, self.amount,
        ]  # fmt: skip


def schedule_rows(
    db: Session,
    start: datetime | None,
    end: datetime | None,
    appeal_slug: str | None = None,
    appeal_ids: tuple[int, ...] | None = None,
) -> Iterator[ScheduleRow]:
    """One row per payment received in [start, end) on a gift with a Gift Aid declaration.

    The amount is what the donor paid net of refunds and disputes (the fee cover included: it is
    the donor's gift to the charity too); payments refunded in full are left out.
    """
    received = payment_received_amount()
    query = (
        select(Donation, Payment.paid_at, received.label("received"))
        .join(Payment, Payment.donation_id == Donation.id)
        .where(
            Donation.gift_aid.is_(True),
            Donation.currency == "gbp",
        )
        .order_by(Payment.paid_at, Payment.id)
    )
    if start is not None:
        query = query.where(Payment.paid_at >= start)
    if end is not None:
        query = query.where(Payment.paid_at < end)
    if appeal_slug:
        query = query.join(Appeal, Appeal.id == Donation.appeal_id).where(Appeal.slug == appeal_slug)
    if appeal_ids is not None:
        query = query.where(Donation.appeal_id.in_(appeal_ids))
    for donation, paid_at, amount in db.execute(query):
        if not amount or amount <= 0:
            continue
        yield ScheduleRow(
            title=donation.gift_aid_title or "",
            first_name=(donation.gift_aid_first_name or "")[:35],
            # HMRC asks for a space instead of the hyphen in double-barrelled surnames.
            last_name=(donation.gift_aid_last_name or "").replace("-", " ")[:35],
            house=donation.gift_aid_house or "",
            postcode=donation.gift_aid_postcode or "",
            donation_date=paid_at.astimezone(UK_TIME).strftime("%d/%m/%y"),
            amount=f"{to_major(int(amount), 'gbp'):.2f}",
            donation_id=donation.id,
        )


def schedule_csv(rows: Iterable[ScheduleRow]) -> str:
    """The schedule as CSV with HMRC's column headings, ready to paste into the spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SCHEDULE_COLUMNS)
    for row in rows:
        # A leading =, +, - or @ would make a spreadsheet run the cell as a formula.
        writer.writerow([("'" + c) if c[:1] in ("=", "+", "-", "@") else c for c in row.cells()])
    return out.getvalue()


def schedule_cells(
    connection: Any, start: datetime | None, end: datetime | None, appeal_ids: tuple[int, ...] | None
) -> Iterator[list[str]]:
    """Rows for the finance export (its CSV writer neutralises formulas), on its own connection."""
    with Session(bind=connection) as db:
        yield from (row.cells() for row in schedule_rows(db, start, end, appeal_ids=appeal_ids))
