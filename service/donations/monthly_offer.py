"""The monthly offer: before Checkout, a donor giving once is offered the monthly alternative.

Peers do this in a JavaScript modal (Fundraise Up's and GiveWP's "upsell to monthly"); here it is
a page of ours between the donate form and Checkout, so it needs no JavaScript and costs no Stripe
call. The form's POST commits the donation row as usual (``monthly_offer = 'offered'``) and, instead
of creating its Checkout Session, answers 303 to the offer page, whose link is signed and expires
with the checkout window. The donor presses one of two buttons:

* "Give £50 once": the offer is ``declined`` and the one-off session is created, exactly as
  without the offer;
* "Give £15 a month instead": the unpaid row becomes monthly (``accepted``, the amount the donor
  first chose kept in ``one_off_amount``), then its session is created in subscription mode.

Either way exactly one Checkout Session is created, as without the offer. The choice is one
conditional UPDATE on a row that has no session yet, so a double submit, a forged choice or a
choice for a donation already paid or expired changes nothing (:class:`OfferRefused`).

Not offered (the donor goes straight to Checkout): the ``MONTHLY_OFFER`` setting or the appeal's
``monthly_offer`` is off; the appeal closes on a date (a monthly gift would outlive it); the donor
came through the news-page widget, where they already chose "once" before the donate page; this
process sent a donor to a surge Payment Link in the last minutes (a monthly gift has no Payment
Link to fall back on, see :mod:`.surge`); or no monthly amount fits the appeal's limits.

The suggested monthly amount (:func:`suggested_monthly_amount`) is about a third of the one-off
gift, a figure that keeps a year's giving well above the single gift: rounded up to a whole unit,
then to the nearest multiple of 5 units from 10 upwards (£50 once → £15 a month, £25 → £9, £10 → £4), within
the appeal's minimum and maximum and never more than the one-off amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session, lazyload, load_only

from ..currencies import exponent
from ..db import check_columns, in_utc, run_alone, runs_alone
from ..fees import fee_cover_for
from ..models import Appeal, utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from . import surge
from .create import RETRYABLE, ensure_checkout_session
from .models import Donation, DonationStatus
from .states import advance_donation

SALT = "donation-router.monthly-offer.v1"
OFFERED, ACCEPTED, DECLINED = "offered", "accepted", "declined"
CHOICES = ("once", "monthly")


class OfferRefused(Exception):  # noqa: N818 - reads as what happened to the choice
    """The offer cannot be answered: ``reason`` is invalid, expired or finished (a friendly page)."""

    def __init__(self, reason: str, donation: Donation | None = None):
        super().__init__(reason)
        self.reason = reason
        self.donation = donation


@dataclass(frozen=True)
class Offer:
    donation: Donation
    monthly_amount: int
    monthly_fee_cover: int


def suggested_monthly_amount(appeal: Appeal, amount: int, currency: str) -> int | None:
    """About a third of a one-off ``amount``, rounded to a figure people give; None if none fits."""
    unit = 10 ** exponent(currency)
    third = -(-amount // 3)  # rounded up, in minor units
    whole = -(-third // unit)  # whole major units, rounded up
    if whole >= 10:
        whole = (whole + 2) // 5 * 5  # the nearest multiple of 5
    suggestion = min(whole * unit, amount)
    suggestion = max(suggestion, appeal.minimum_amounts.get(currency, 1))
    if suggestion > amount or suggestion > appeal.maximum_amounts.get(currency, suggestion):
        return None
    return suggestion


def offered_for(
    appeal: Appeal, settings: Settings, *, frequency: str, amount: int, currency: str, via: str | None
) -> bool:
    """Whether this one-off gift should be offered the monthly alternative before Checkout."""
    return (
        frequency == "one_off"
        and settings.monthly_offer
        and appeal.monthly_offer
        and appeal.closes_at is None
        and via != "widget"
        and not surge.recently_surging()
        and suggested_monthly_amount(appeal, amount, currency) is not None
    )


def awaiting_choice(donation: Donation) -> bool:
    return (
        donation.monthly_offer == OFFERED
        and donation.status in RETRYABLE
        and donation.stripe_checkout_session_id is None
    )


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return _serializer_for(settings.secret_key)


@lru_cache(maxsize=8)
def _serializer_for(secret_key: str) -> URLSafeTimedSerializer:
    # Built once per key rather than for every offer link and answer (its signer derives the key
    # on construction); it keeps no state between calls, so concurrent requests can share it.
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def offer_token(settings: Settings, donation: Donation) -> str:
    return _serializer(settings).dumps({"d": donation.id})


def offer_url(settings: Settings, donation: Donation, locale: str | None = None) -> str:
    """The offer page's path for this donation (relative: the donor's own browser follows it)."""
    lang = f"?lang={locale}" if locale and locale != "en" else ""
    return f"/donate/{donation.appeal.slug}/choose/{offer_token(settings, donation)}{lang}"


def _read_token(settings: Settings, token: str) -> str:
    try:
        data: Any = _serializer(settings).loads(token, max_age=settings.checkout_session_minutes * 60)
    except SignatureExpired:
        raise OfferRefused("expired") from None
    except BadSignature:
        raise OfferRefused("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        raise OfferRefused("invalid")
    return data["d"]


# Where the row is read through SQLAlchemy (SQLite; a session already in a transaction): the page
# is given its appeal, so the donation's own row is enough, without the join to the appeals
# table's many columns. That appeal is the cache's shared copy (AppealCache.find_read_only),
# outside the session, so it is never assigned here (the assignment would add it to this
# session); ``donation.appeal`` is loaded when first read, from the session if it holds the appeal.
OWN_ROW = lazyload(Donation.appeal)
# What the offer page reads of the donation (and its "already chosen" page, _refused) there. Any
# other attribute is still there if asked for; it is loaded on first use.
PAGE_COLUMNS = load_only(
    Donation.appeal_id, Donation.amount, Donation.currency, Donation.fee_cover_amount, Donation.status,
    Donation.monthly_offer, Donation.stripe_checkout_session_id, Donation.checkout_url,
)  # fmt: skip


def _read(db: Session, donation_id: str, appeal: Appeal, *options: Any) -> Donation:
    """The donation as it is now, if it is ``appeal``'s and was offered the choice; else
    OfferRefused("invalid")."""
    if runs_alone(db):
        # On PostgreSQL one prepared SELECT through psycopg, as the answer's UPDATE (``_answer``):
        # SQLAlchemy's ORM load of the row cost more CPU than the rest of the offer page.
        row = run_alone(db, _row_sql(), {"donation_id": donation_id})
        donation = _as_donation(row, appeal) if row is not None else None
    else:
        donation = db.get(Donation, donation_id, options=(OWN_ROW, *options), populate_existing=True)
    if donation is None or donation.appeal_id != appeal.id or donation.monthly_offer is None:
        raise OfferRefused("invalid")
    return donation


def offer(db: Session, settings: Settings, token: str, appeal: Appeal) -> Offer:
    """What the offer page shows; OfferRefused when the donation is no longer waiting for a choice."""
    donation = _read(db, _read_token(settings, token), appeal, PAGE_COLUMNS)
    if not awaiting_choice(donation):
        raise OfferRefused("finished", donation)
    monthly = suggested_monthly_amount(appeal, donation.amount, donation.currency)
    if monthly is None:
        raise OfferRefused("invalid")
    cover = (
        fee_cover_for(monthly, donation.currency, settings.stripe_settlement_currency)
        if donation.fee_cover_amount
        else 0
    )
    return Offer(donation, monthly, cover)


def choose(
    db: Session, gateway: StripeGateway, settings: Settings, token: str, appeal: Appeal, choice: str
) -> Donation:
    """Record the donor's answer (once) and create the one Checkout Session; returns the donation.

    A repeated or late answer changes nothing: the donation continues as first decided. Raises
    OfferRefused for a bad link or choice, or a donation no longer waiting for Checkout, and
    CheckoutUnavailable as creating any session may.
    """
    if choice not in CHOICES:
        raise OfferRefused("invalid")
    donation_id = _read_token(settings, token)
    answered: Donation | None = None
    if choice == "once":
        # Declining needs nothing from the row: the conditional UPDATE alone answers, and its
        # RETURNING is the donation the session is made for (no read before it, none after).
        answered = _answer(db, donation_id, appeal, {"monthly_offer": DECLINED})
    else:
        donation = _read(db, donation_id, appeal)
        if awaiting_choice(donation):
            monthly = suggested_monthly_amount(appeal, donation.amount, donation.currency)
            if monthly is None:
                raise OfferRefused("invalid")
            cover = (
                fee_cover_for(monthly, donation.currency, settings.stripe_settlement_currency)
                if donation.fee_cover_amount
                else 0
            )
            answered = _answer(db, donation_id, appeal, {
                "monthly_offer": ACCEPTED, "frequency": "monthly", "amount": monthly,
                "fee_cover_amount": cover, "one_off_amount": donation.amount,
            })  # fmt: skip
    if answered is not None:
        # The answer that changed the row creates the session at once.
        return ensure_checkout_session(db, gateway, settings, answered, in_progress_wait=0.0)
    # Not answered now (already answered, paid, expired, or a bad link): the row as it is now.
    donation = _read(db, donation_id, appeal)
    if donation.status in RETRYABLE and donation.stripe_checkout_session_id is None:
        # A concurrent second answer waits for the first one's session (create.py:
        # _wait_for_session) rather than racing it to Stripe.
        return ensure_checkout_session(db, gateway, settings, donation, in_progress_wait=10.0)
    if donation.checkout_url and donation.status in (DonationStatus.PENDING, DonationStatus.SURGE_REDIRECTED):
        return donation  # a double submit: the session the first answer made
    raise OfferRefused("finished", donation)


def _answer(db: Session, donation_id: str, appeal: Appeal, values: dict[str, Any]) -> Donation | None:
    """Record the answer if the donation (of ``appeal``) still waits for one, in one conditional
    UPDATE, committed; the donation as stored, or None when the row was not waiting any more."""
    values = {**values, "updated_at": utcnow()}
    if runs_alone(db):
        # On PostgreSQL, as the donation's own writes (service/donations/writes.py): one prepared
        # statement through psycopg, whose RETURNING is the whole row. SQLAlchemy's ORM UPDATE
        # cost more CPU than the rest of the answer but Stripe's call.
        row = run_alone(
            db,
            _answer_sql(tuple(values)),
            {**values, "donation_id": donation_id, "appeal_id": appeal.id, "offered": OFFERED,
             "waiting": list(RETRYABLE)},
        )  # fmt: skip
        return _as_donation(row, appeal) if row is not None else None
    waiting = (
        (Donation.id == donation_id)
        & (Donation.appeal_id == appeal.id)
        & (Donation.monthly_offer == OFFERED)
        & Donation.status.in_(RETRYABLE)
        & Donation.stripe_checkout_session_id.is_(None)
    )
    statement = update(Donation).where(waiting).values(**values).returning(Donation)
    answered = db.scalars(
        statement, execution_options={"synchronize_session": False, "populate_existing": True}
    ).one_or_none()
    db.commit()
    return answered


DONATIONS = Donation.__table__
ROW = tuple(DONATIONS.c.keys())  # every column, named as Donation's attributes are


@cache
def _answer_sql(columns: tuple[str, ...]) -> str:
    """The answer's UPDATE for psycopg (``%(name)s`` parameters), one per set of columns (two)."""
    check_columns(DONATIONS, columns)
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    return (
        f"UPDATE donations SET {assignments} WHERE id = %(donation_id)s AND appeal_id = %(appeal_id)s "  # noqa: S608
        "AND monthly_offer = %(offered)s AND status = ANY(%(waiting)s) AND stripe_checkout_session_id IS NULL "
        f"RETURNING {', '.join(ROW)}"
    )


@cache
def _row_sql() -> str:
    return f"SELECT {', '.join(ROW)} FROM donations WHERE id = %(donation_id)s"  # noqa: S608


def _as_donation(row: tuple[Any, ...], appeal: Appeal) -> Donation:
    """A whole row read through psycopg as a Donation, as create_donation makes its new row: an
    object outside the session (every later change to it is a Core UPDATE whose values are
    copied back, never a flush), with the page's appeal if it is the donation's."""
    values = {name: in_utc(value) for name, value in zip(ROW, row, strict=True)}
    return Donation.outside_session(values, appeal if values["appeal_id"] == appeal.id else None)


def expire_unanswered(db: Session, settings: Settings, donation: Donation) -> bool:
    """An offer nobody answered within the checkout window: the gift lapses with no Stripe call
    (the sweeper's job; its signed link has expired by then too)."""
    if not awaiting_choice(donation):
        return False
    if donation.created_at + timedelta(minutes=settings.checkout_session_minutes) >= utcnow():
        return False
    changed = advance_donation(db, donation.id, DonationStatus.EXPIRED)
    db.commit()
    return changed
