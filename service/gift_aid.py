"""Gift Aid: the donor's declaration (HMRC's model wording, versioned) and the claim schedule.

A declaration is only valid with the donor's full name, home address (house name or number and
postcode), the charity's name and the taxpayer statement; the exact words the donor accepted are
identified by ``wording_version`` so a claim can be defended later. The schedule rows follow the
columns of HMRC's Charities Online Gift Aid schedule spreadsheet.
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

from schemas.postcode import normalise_postcode

from .currencies import to_major
from .models import Appeal, Donation
from .money_received import payment_received_amount

UK_TIME = ZoneInfo("Europe/London")
# Each version's words never change once donors have accepted them; new wording, new version.
# HMRC's model declaration for a donation and future donations, which covers one-off and monthly
# gifts alike; the amount is on the donation the declaration is stored with.
WORDING_VERSION = "hmrc-model-2026-1"
_WORDING: dict[str, str] = {
    "en": "I want to Gift Aid my donation and any donations I make in the future to {charity}. "
    "I am a UK taxpayer and understand that if I pay less Income Tax and/or Capital Gains Tax than "
    "the amount of Gift Aid claimed on all my donations in that tax year it is my responsibility to "
    "pay any difference.",
    "uk": "Я хочу, щоб {charity} застосувала Gift Aid до моєї пожертви та всіх моїх майбутніх "
    "пожертв. Я є платником податків у Великій Британії й розумію, що якщо я сплачу менше "
    "прибуткового податку та/або податку на приріст капіталу, ніж сума Gift Aid, заявлена щодо "
    "всіх моїх пожертв у цьому податковому році, я відповідаю за сплату різниці.",
}
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


def declaration_text(charity: str, locale: str = "en", version: str = WORDING_VERSION) -> str:
    """The declaration exactly as shown to the donor for ``version`` (English when untranslated)."""
    if version != WORDING_VERSION:
        raise KeyError(version)
    return _WORDING.get(locale.split("_")[0], _WORDING["en"]).format(charity=charity)


def offers_gift_aid(appeal: Appeal, currency: str) -> bool:
    return bool(appeal.gift_aid_enabled) and currency == "gbp"


@dataclass(frozen=True)
class GiftAidDeclaration:
    first_name: str
    last_name: str
    house: str
    postcode: str
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "first_name": self.first_name, "last_name": self.last_name,
            "house": self.house, "postcode": self.postcode,
        }  # fmt: skip


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
    from .models import Payment

    received = payment_received_amount(include_fee_cover=True)
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


def declaration_from_fields(data: dict[str, Any] | None) -> GiftAidDeclaration | None:
    """Build a declaration from validated fields (API or donate form); None when not declared."""
    if not data:
        return None
    postcode = normalise_postcode(data["postcode"])
    if postcode is None:
        raise ValueError("postcode was not validated")
    return GiftAidDeclaration(
        title=(data.get("title") or "").strip() or None,
        first_name=data["first_name"].strip(),
        last_name=data["last_name"].strip(),
        house=data["house"].strip(),
        postcode=postcode,
    )


def schedule_cells(
    connection: Any, start: datetime | None, end: datetime | None, appeal_ids: tuple[int, ...] | None
) -> Iterator[list[str]]:
    """Rows for the finance export (its CSV writer neutralises formulas), on its own connection."""
    with Session(bind=connection) as db:
        yield from (row.cells() for row in schedule_rows(db, start, end, appeal_ids=appeal_ids))
