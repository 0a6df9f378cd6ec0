"""The ledger's tables as SQLAlchemy 2 typed models.

Money columns are integer minor units next to a three-letter lower-case ISO currency code.
Timestamps are stored in UTC; :class:`UTCDateTime` gives back aware datetimes on SQLite too.
"""

from __future__ import annotations

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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
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
    # Links outlive appeals (service/donations/successors.py): where a closed appeal's donors are offered to
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
