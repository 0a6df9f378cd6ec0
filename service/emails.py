"""Composing the donor's emails from the ledger: plain text and HTML, in the donor's language.

Each kind of message has a template per language under ``templates/email/<lang>/`` (``.txt``
and ``.html``, the HTML one autoescaped), written as whole sentences rather than assembled from
catalogue fragments, so a translator sees and writes a letter. Amounts are formatted by Babel
for the language (service/i18n.py). A message never carries a card number: the ledger does not
hold one, and the templates are given only amounts, dates, the appeal and links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from babel.dates import format_date
from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .constants.languages import LOCALES
from .donations.models import Donation
from .i18n import DEFAULT_LOCALE, babel_locale, money
from .models import Payment, utcnow
from .outbox import NO_ADDRESS, OutboxMessage
from .settings import Settings

SUBJECTS = {
    "receipt": {
        "en": "Your receipt: {amount} to {appeal}",
        "uk": "Ваша квитанція: {amount} для «{appeal}»",
    },
    "gift_changed": {
        "en": "Your monthly gift to {appeal} is now {amount}",
        "uk": "Ваш щомісячний внесок для «{appeal}» тепер {amount}",
    },
    "gift_cancelled": {
        "en": "Your monthly gift to {appeal} has stopped",
        "uk": "Ваш щомісячний внесок для «{appeal}» припинено",
    },
    "payment_failed": {
        "en": "Your monthly gift to {appeal} could not be taken: please update your card",
        "uk": "Не вдалося списати ваш щомісячний внесок для «{appeal}»: оновіть картку",
    },
    # payment_failed for a gift paid by Direct Debit (its bank mandate known): no card to update.
    "payment_failed_debit": {
        "en": "Your monthly gift to {appeal} could not be taken: please choose a new way to pay",
        "uk": "Не вдалося списати ваш щомісячний внесок для «{appeal}»: виберіть інший спосіб оплати",
    },
    "debit_failed": {
        "en": "Your bank did not pay your gift of {amount} to {appeal}",
        "uk": "Ваш банк не сплатив вашу пожертву {amount} для «{appeal}»",
    },
    "manage_links": {
        "en": "Your link to manage your monthly giving",
        "uk": "Ваше посилання для керування щомісячними внесками",
    },
    "annual_statement": {
        "en": "Your giving to {charity} in {label}",
        "uk": "Ваші пожертви для {charity} за {label}",
    },
    "renewal_receipt": {
        "en": "Your monthly gift of {amount} to {appeal}: receipt",
        "uk": "Ваш щомісячний внесок {amount} для «{appeal}»: квитанція",
    },
}


class NothingToSend(Exception):  # noqa: N818 - reads as the outcome
    """The message no longer applies (no address, donation gone): skipped, not failed."""


@dataclass(frozen=True)
class Composed:
    message: EmailMessage
    kind: str
    locale: str


def donor_locale(donation: Donation) -> str:
    short = (donation.locale or DEFAULT_LOCALE).replace("_", "-").split("-")[0].lower()
    return short if short in LOCALES else DEFAULT_LOCALE


def message_id_header(outbox_id: str, settings: Settings) -> str:
    """The same Message-ID on every attempt, so a resend after a lost acknowledgement is one message."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    local = re.sub(r"[^A-Za-z0-9._-]", ".", f"{outbox_id}.{settings.deployment_id}")
    return f"<{local}@{domain}>"


def _date(value: datetime | None, locale: str) -> str:
    return format_date(value or utcnow(), format="long", locale=babel_locale(locale))


def _is_renewal(db: Session, payment: Payment) -> bool:
    if payment.kind != "invoice":
        return False
    earlier = db.scalar(
        select(func.count())
        .select_from(Payment)
        .where(Payment.donation_id == payment.donation_id, Payment.id < payment.id)
    )
    return bool(earlier)


def compose(db: Session, row: OutboxMessage, settings: Settings) -> Composed:
    """Render the queued message as the ledger stands now; NothingToSend if it no longer applies."""
    donation = db.get(Donation, row.donation_id) if row.donation_id else None
    if donation is None:
        raise NothingToSend("no_donation")
    if not donation.email:
        raise NothingToSend(NO_ADDRESS)
    locale = donor_locale(donation)
    variables: dict[str, Any] = {
        "donation": donation,
        "appeal": donation.appeal,
        "charity": donation.appeal.charity_name,
        "reference": donation.id,
        "monthly": donation.frequency == "monthly",
        "public_base_url": settings.public_base_url,
        **(row.context or {}),
    }
    kind = row.kind
    from .manage import LINK_DAYS, card_update_url, link_expires, manage_url

    link = manage_url(settings, donation)
    if link:
        variables.update(manage_url=link, manage_expires=_date(link_expires(), locale), link_days=LINK_DAYS)
        variables["card_url"] = card_update_url(settings, donation)
    context = row.context or {}
    if kind == "gift_changed":
        variables.update(
            amount=money(context["new_amount"], donation.currency, locale),
            previous_amount=money(context["previous_amount"], donation.currency, locale),
        )
    elif kind == "gift_cancelled":
        variables.update(amount=money(donation.charge_amount, donation.currency, locale))
    elif kind == "payment_failed":
        if not link:
            raise NothingToSend("gift_ended")  # the retries ended it; the cancellation email says so
        variables.update(
            amount=money(context.get("amount") or donation.charge_amount, donation.currency, locale),
            # Paid by Direct Debit: the bank refused the debit (its mandate may be cancelled).
            by_debit=bool(donation.stripe_mandate_id),
        )
    elif kind == "debit_failed":
        # A Bacs/SEPA debit the bank refused days after Checkout (service/ledger/apply_checkout.py).
        from urllib.parse import urlencode

        query = {"amount": donation.amount, "currency": donation.currency, "frequency": donation.frequency}
        if locale != DEFAULT_LOCALE:
            query["lang"] = locale
        variables.update(
            amount=money(context.get("amount") or donation.charge_amount, donation.currency, locale),
            retry_url=f"{settings.public_base_url}/donate/{donation.appeal.slug}?{urlencode(query)}",
        )
    elif kind == "manage_links":
        gifts = []
        for donation_id in context.get("donation_ids", []):
            gift = db.get(Donation, donation_id)
            url = manage_url(settings, gift) if gift is not None and gift.email == donation.email else None
            if url:
                gifts.append({"appeal": gift.appeal.title, "charity": gift.appeal.charity_name, "url": url,  # type: ignore[union-attr]
                              "amount": money(gift.charge_amount, gift.currency, locale)})  # type: ignore[union-attr]  # fmt: skip
        if not gifts:
            raise NothingToSend("no_running_gifts")
        variables.update(gifts=gifts, manage_expires=_date(link_expires(), locale))
    elif kind == "annual_statement":
        from datetime import date

        from .statements import TaxYear, statement_lines

        year = TaxYear(date.fromisoformat(context["start"]), date.fromisoformat(context["end"]))
        lines = statement_lines(db, donation.email, *year.bounds())
        if not lines:
            raise NothingToSend("nothing_given_in_year")
        totals: dict[str, int] = {}
        for line in lines:
            totals[line.currency] = totals.get(line.currency, 0) + line.amount
        variables.update(
            label=context["label"],
            period_start=_date(year.bounds()[0], locale),
            period_end=_date(year.bounds()[1] - timedelta(days=1), locale),
            lines=[
                {
                    "date": _date(line.paid_at, locale),
                    "appeal": line.appeal,
                    "amount": money(line.amount, line.currency, locale),
                    "gift_aid": line.gift_aid,
                }
                for line in lines
            ],  # fmt: skip
            totals=[money(amount, currency, locale) for currency, amount in sorted(totals.items())],
            gift_aid=any(line.gift_aid for line in lines),
        )
    elif kind == "receipt":
        payment = db.get(Payment, row.payment_id) if row.payment_id else None
        if payment is None:
            raise NothingToSend("no_payment")
        if _is_renewal(db, payment):
            kind = "renewal_receipt"
        cover = min(donation.fee_cover_amount or 0, payment.amount)
        variables.update(
            amount=money(payment.amount, payment.currency, locale),
            gift_amount=money(payment.amount - cover, payment.currency, locale),
            fee_cover=money(cover, payment.currency, locale) if cover else None,
            paid_on=_date(payment.paid_at, locale),
            gift_aid=bool(donation.gift_aid and donation.gift_aid_declared_at),
        )
        if not variables["monthly"]:
            # A one-off receipt may invite a monthly gift (a new one): service/make_monthly.py.
            from .make_monthly import LINK_DAYS as MONTHLY_LINK_DAYS
            from .make_monthly import make_monthly_url, monthly_amount

            invite = make_monthly_url(settings, donation)
            if invite:
                variables.update(
                    make_monthly_url=invite,
                    make_monthly_amount=money(monthly_amount(donation) or 0, donation.currency, locale),
                    make_monthly_expires=_date(utcnow() + timedelta(days=MONTHLY_LINK_DAYS), locale),
                )
    subject_kind = "payment_failed_debit" if kind == "payment_failed" and variables.get("by_debit") else kind
    subject = SUBJECTS[subject_kind][locale].format(
        amount=variables.get("amount", ""),
        appeal=donation.appeal.title,
        charity=variables["charity"],
        label=variables.get("label", ""),
    )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = donation.email
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id_header(row.id, settings)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_template(f"email/{locale}/{kind}.txt", **variables))
    message.add_alternative(render_template(f"email/{locale}/{kind}.html", **variables), subtype="html")
    message["Content-Language"] = locale  # after the body: set_content replaces Content-* headers
    return Composed(message, kind, locale)
