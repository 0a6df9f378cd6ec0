"""The ledger's tables as SQLAlchemy 2 typed models.

Money columns are integer minor units next to a three-letter lower-case ISO currency code.
Timestamps are stored in UTC; :class:`UTCDateTime` gives back aware datetimes on SQLite too.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false, true


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_donation_id() -> str:
    # Unguessable, so a donation's public status URL cannot be enumerated.
    return "don_" + secrets.token_hex(12)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Appeal(Base):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    charity_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    currencies: Mapped[list[Any]] = mapped_column(JSON)
    suggested_amounts: Mapped[dict[str, Any]] = mapped_column(JSON)
    minimum_amounts: Mapped[dict[str, Any]] = mapped_column(JSON)
    maximum_amounts: Mapped[dict[str, Any]] = mapped_column(JSON)
    default_currency: Mapped[str] = mapped_column(String(3))
    goal_amount: Mapped[int | None] = mapped_column(BigInteger)
    goal_currency: Mapped[str | None] = mapped_column(String(3))
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    stripe_account: Mapped[str | None] = mapped_column(String(255))
    statement_descriptor_suffix: Mapped[str | None] = mapped_column(String(22))
    allowed_origins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Only a charity registered with HMRC may offer Gift Aid, and only on gifts in pounds.
    gift_aid_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Checkout may offer Bacs/SEPA Direct Debit for this appeal (service/payment_methods.py).
    bank_debits: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Links outlive appeals (service/successors.py): where a closed appeal's donors are offered to
    # give instead, and the words that tell them why. ``general_fund`` marks the charity's
    # unrestricted fund, which a successor may name without knowing its slug.
    general_fund: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    successor_slug: Mapped[str | None] = mapped_column(String(64))
    successor_general_fund: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    successor_reason: Mapped[str | None] = mapped_column(String(500))
    successor_when_funded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Offer a one-off donor the monthly alternative before Checkout (service/donations/monthly_offer.py).
    monthly_offer: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    def is_open(self, at: datetime | None = None) -> bool:
        now = at or utcnow()
        if self.closed_at is not None and self.closed_at <= now:
            return False
        if self.opens_at is not None and now < self.opens_at:
            return False
        return not (self.closes_at is not None and now >= self.closes_at)


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
    # closed and the donor agreed to give to its successor (service/successors.py); NULL on
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

    @property
    def charge_amount(self) -> int:
        """What Stripe is asked to collect (per payment): the gift plus any fee cover."""
        return self.amount + (self.fee_cover_amount or 0)


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


class WebhookOutcome:
    """What became of one Stripe event (one row per event id, however often it was delivered)."""

    RECEIVED = "received"  # stored, not yet processed (or the process died mid-way)
    PROCESSED = "processed"  # changed the ledger
    DUPLICATE = "duplicate"  # its facts were already in the ledger; nothing changed
    IGNORED = "ignored"  # a type (or object) the service does not use
    QUARANTINED = "quarantined"  # not ours, wrong mode or contradicts the ledger: finance must look
    FAILED = "failed"  # processing raised; Stripe retries and operators can replay
    # Cannot be applied yet (a charge, refund or dispute before its payment, on a charge without
    # metadata): kept, applied when the payment arrives, by replay or by sync-events.
    WAITING = "waiting"

    ALL = (RECEIVED, PROCESSED, DUPLICATE, IGNORED, QUARANTINED, FAILED, WAITING)


class WebhookEvent(Base):
    """Every verified Stripe event, kept verbatim: the ledger's source of truth for finance."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_outcome_received", "outcome", "received_at"),
        Index("ix_webhook_events_type_created", "type", "event_created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    api_version: Mapped[str | None] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(Boolean)
    account: Mapped[str | None] = mapped_column(String(255))
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    event_created_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_count: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    payload: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), default=WebhookOutcome.RECEIVED)
    outcome_reason: Mapped[str | None] = mapped_column(String(500))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    process_attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    donation_id: Mapped[str | None] = mapped_column(ForeignKey("donations.id"), index=True)


class Payment(Base):
    """One payment collected for a donation: the one-off charge, or one invoice of a monthly gift.

    Unique Stripe ids make a second insert for the same payment impossible, so concurrent
    deliveries of different events about one payment converge on one row.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_paid_at", "paid_at"),
        Index("ix_payments_donation_paid", "donation_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    donation_id: Mapped[str] = mapped_column(ForeignKey("donations.id"))
    kind: Mapped[str] = mapped_column(String(16))  # one_off | invoice
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # Refunds that failed after Stripe reported them (card closed or lost): the money came back.
    # Once one has failed, amount_refunded is recounted from Stripe's refunds, not the charge.
    amount_refund_failed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    dispute_id: Mapped[str | None] = mapped_column(String(255))
    dispute_status: Mapped[str | None] = mapped_column(String(32))
    dispute_amount: Mapped[int | None] = mapped_column(BigInteger)
    # Stripe's dispute fees net of any returned when the dispute was won, from the balance
    # transactions in ``dispute.balance_transactions`` (in settlement_currency).
    dispute_fee: Mapped[int | None] = mapped_column(BigInteger)
    balance_transaction_id: Mapped[str | None] = mapped_column(String(255), index=True)
    fee: Mapped[int | None] = mapped_column(BigInteger)
    net: Mapped[int | None] = mapped_column(BigInteger)
    settlement_currency: Mapped[str | None] = mapped_column(String(3))
    # The payment in the account's settlement currency, from Stripe's balance transactions (fee and
    # net above are too). When Stripe converted the charge these differ from amount, refunds and
    # dispute_amount, which stay in ``currency``; refunds and dispute withdrawals are converted at
    # the rate of their own day, so they are stored as Stripe booked them, never recomputed.
    settlement_amount: Mapped[int | None] = mapped_column(BigInteger)
    settlement_refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Dispute withdrawals less reinstatements (the dispute fee excluded), in settlement_currency.
    settlement_disputed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stripe_payout_id: Mapped[str | None] = mapped_column(String(255), index=True)
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Transfer(Base):
    """What a charity with its own Stripe account received for one payment (Connect).

    A destination charge is the platform's: its fee, refunds and disputes stay on the payment row
    and in the platform's balance. What reaches the charity is the transfer to its connected
    account, kept here apart (never netted into the payment), with the charity's own payout that
    carried it to the charity's bank once that payout is known.
    """

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    donation_id: Mapped[str] = mapped_column(ForeignKey("donations.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    stripe_transfer_id: Mapped[str] = mapped_column(String(255), unique=True)
    destination_account: Mapped[str] = mapped_column(String(255), index=True)
    # The payment (py_...) the transfer created on the charity's account: its payout lists it.
    destination_payment_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    stripe_payout_id: Mapped[str | None] = mapped_column(String(255), index=True)
    transferred_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Payout(Base):
    """A Stripe payout to the bank; payments point at it through ``stripe_payout_id``.

    ``account`` is None for the platform's own payouts, or the charity's connected account whose
    payout it is (a Connect webhook's ``account``); transfers point at those.
    """

    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_arrival", "arrival_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_payout_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    reconciliation_status: Mapped[str | None] = mapped_column(String(32))
    # False for payouts the account created itself (Dashboard or API, ``method`` standard or
    # instant): Stripe cannot say which transactions they carried, so they are not itemised.
    automatic: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    method: Mapped[str | None] = mapped_column(String(16))  # standard | instant
    arrival_date: Mapped[datetime | None]
    balance_transaction_id: Mapped[str | None] = mapped_column(String(255))
    payment_count: Mapped[int] = mapped_column(Integer, default=0)
    account: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_created_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
