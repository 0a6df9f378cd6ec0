"""The donations package's tables: the donation itself (with its states), the idempotency records
that map a client's key to the donation it made, and surge mode's pre-created Payment Links (one
per appeal and currency, used by service/donations/payment_links.py). Registered for Alembic
through service/tables.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from ..models import Appeal, Base, utcnow


def new_donation_id() -> str:
    # Unguessable, so a donation's public status URL cannot be enumerated.
    return "don_" + secrets.token_hex(12)


class DonationStatus:
    """Every state a donation can be in; later states never move back (see ledger rules)."""

    CREATED = "created"  # row committed, Checkout Session not yet created
    CHECKOUT_ERROR = "checkout_error"  # Stripe refused or failed; the sweeper may retry
    PENDING = "pending"  # Checkout Session open, donor has not finished
    PROCESSING = "processing"  # completed, payment not yet settled (bank debit)
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    CANCELLED = "cancelled"  # a monthly gift whose subscription ended
    SURGE_REDIRECTED = "surge_redirected"  # sent to the appeal's Payment Link (Stripe rate limit)

    ALL = (
        CREATED, CHECKOUT_ERROR, PENDING, PROCESSING, PAID, FAILED, EXPIRED,
        PARTIALLY_REFUNDED, REFUNDED, DISPUTED, DISPUTE_WON, DISPUTE_LOST, CANCELLED, SURGE_REDIRECTED,
    )  # fmt: skip


class Donation(Base):
    __tablename__ = "donations"
    __table_args__ = (
        Index("ix_donations_appeal_created", "appeal_id", "created_at"),
        Index("ix_donations_status", "status"),
        Index("ix_donations_appeal_paid", "appeal_id", "paid_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_donation_id)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default=DonationStatus.CREATED)
    email: Mapped[str | None] = mapped_column(String(320))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    referrer_host: Mapped[str | None] = mapped_column(String(255))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    checkout_expires_at: Mapped[datetime | None]
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    checkout_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(String(500))
    # What the webhook ledger learnt after checkout (see service/ledger). The refunded total is
    # Stripe's cumulative figure for the gift's payments, never a sum of refund deltas.
    paid_at: Mapped[datetime | None]
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    subscription_status_at: Mapped[datetime | None]
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attention_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Inner join: appeal_id is NOT NULL, and PostgreSQL refuses FOR UPDATE on an outer join.
    appeal: Mapped[Appeal] = relationship(lazy="joined", innerjoin=True, foreign_keys=[appeal_id])

    # Donor options (issue 6). ``amount`` stays the gift the donor chose; the optional addition
    # towards card fees is kept apart so finance can report both, and Stripe is asked for the sum.
    fee_cover_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    locale: Mapped[str | None] = mapped_column(String(16))
    # A Gift Aid declaration is the donor's statement to HMRC, so the exact words shown (by
    # version) and when they were accepted are kept with the gift they cover.
    gift_aid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    gift_aid_title: Mapped[str | None] = mapped_column(String(4))
    gift_aid_first_name: Mapped[str | None] = mapped_column(String(35))
    gift_aid_last_name: Mapped[str | None] = mapped_column(String(35))
    gift_aid_house: Mapped[str | None] = mapped_column(String(40))
    gift_aid_postcode: Mapped[str | None] = mapped_column(String(10))
    gift_aid_declared_at: Mapped[datetime | None]
    gift_aid_wording_version: Mapped[str | None] = mapped_column(String(40))
    # The appeal the donor's link named. It differs from ``appeal_id`` only when that appeal had
    # closed and the donor agreed to give to its successor (service/donations/successors.py); NULL on
    # gifts made before this was recorded.
    requested_appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id"))
    # A UK postcode the donor gave as evidence of residence for a match funder (service/matching),
    # asked only while a live rule accepts it; erased with the donor's email.
    match_postcode: Mapped[str | None] = mapped_column(String(10))

    # Why a monthly gift stopped, as the donor told Stripe's portal (cancellation_details): finance
    # sees them with the cancellations (service/manage.py, docs/donors.md).
    cancellation_feedback: Mapped[str | None] = mapped_column(String(32))
    cancellation_comment: Mapped[str | None] = mapped_column(String(500))
    # Who stopped it (service/cancellations.py: donor, payment_failed, dispute, staff) and when; the
    # donor is known to have asked when our manage page opened the portal's cancel flow for them.
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    cancelled_at: Mapped[datetime | None]
    portal_cancel_opened_at: Mapped[datetime | None]
    # The monthly offer before Checkout (service/donations/monthly_offer.py): None when not shown,
    # else offered | accepted | declined; ``one_off_amount`` is what the donor first chose to give
    # once, kept when they accepted and the gift became monthly.
    monthly_offer: Mapped[str | None] = mapped_column(String(16))
    one_off_amount: Mapped[int | None] = mapped_column(BigInteger)

    # Ways to pay (issue 17). ``pay_by`` is "bank_debit" when the donor chose Direct Debit on our
    # page (Checkout then offers that scheme alone; NULL: whatever the Dashboard enables). The
    # bank mandate a debit gift runs on, and its state as Stripe last reported it
    # (``mandate.updated``): "inactive" means the donor's bank will refuse the next debit.
    pay_by: Mapped[str | None] = mapped_column(String(16))
    stripe_mandate_id: Mapped[str | None] = mapped_column(String(255), index=True)
    mandate_status: Mapped[str | None] = mapped_column(String(16))
    mandate_status_at: Mapped[datetime | None]

    @classmethod
    def outside_session(
        cls, values: Mapping[str, Any], appeal: Appeal | None = None, *, others_null: bool = False
    ) -> Donation:
        """A row just written or read through psycopg (``values``: column name to value) as a
        Donation outside any session, with ``appeal`` if given: every later change to it is a Core
        UPDATE whose values are copied back (``set_committed_value``), never a flush.

        Its attributes are put in place as SQLAlchemy's loading does, without the constructor's
        attribute events: 1 µs instead of 21 for a donation's thirty-odd columns, once per
        donation on the hottest path. ``values`` must name columns only (checked, as a typo
        would otherwise be an attribute SQLAlchemy never sees). ``others_null``: the row was just
        INSERTed with ``values``, so every other column is NULL (refused for a column with a
        default, which the row would have instead); reading those then costs what reading a set
        one does, not three times as much.
        """
        unknown = values.keys() - _COLUMN_NAMES
        if unknown:
            raise ValueError(f"not columns of donations: {sorted(unknown)}")
        donation: Donation = cls._sa_class_manager.new_instance()
        if others_null:
            defaulted = _DEFAULTED - values.keys()
            if defaulted:
                raise ValueError(f"columns with a default are not NULL: {sorted(defaulted)}")
            donation.__dict__.update(_NULL_ROW)
        donation.__dict__.update(values)
        if appeal is not None:
            donation.__dict__["appeal"] = appeal
        return donation

    @property
    def charge_amount(self) -> int:
        """What Stripe is asked to collect (per payment): the gift plus any fee cover."""
        return self.amount + (self.fee_cover_amount or 0)


# The attribute names ``Donation.outside_session`` accepts; those whose column has a default.
_COLUMN_NAMES = frozenset(attr.key for attr in inspect(Donation).column_attrs)
_DEFAULTED = frozenset(
    attr.key
    for attr in inspect(Donation).column_attrs
    if attr.columns[0].default is not None or attr.columns[0].server_default is not None
)
_NULL_ROW = dict.fromkeys(_COLUMN_NAMES)


class IdempotencyRecord(Base):
    """Maps a client's Idempotency-Key (API header or donate-form token) to the donation it made."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    donation_id: Mapped[str] = mapped_column(ForeignKey("donations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentLink(Base):
    __tablename__ = "payment_links"
    __table_args__ = (UniqueConstraint("appeal_id", "currency", name="uq_payment_links_appeal_currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    currency: Mapped[str] = mapped_column(String(3))
    stripe_payment_link_id: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
