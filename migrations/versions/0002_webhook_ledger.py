"""Webhook ledger: verified Stripe events, payments (with fees and payouts), payouts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:36:26.011697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_payout_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reconciliation_status", sa.String(length=32), nullable=True),
        sa.Column("arrival_date", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("balance_transaction_id", sa.String(length=255), nullable=True),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("stripe_created_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_payout_id"),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index("ix_payouts_arrival", ["arrival_date"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donation_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_charge_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("dispute_id", sa.String(length=255), nullable=True),
        sa.Column("dispute_status", sa.String(length=32), nullable=True),
        sa.Column("dispute_amount", sa.BigInteger(), nullable=True),
        sa.Column("balance_transaction_id", sa.String(length=255), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("net", sa.BigInteger(), nullable=True),
        sa.Column("settlement_currency", sa.String(length=3), nullable=True),
        sa.Column("stripe_payout_id", sa.String(length=255), nullable=True),
        sa.Column("paid_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donation_id"],
            ["donations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_charge_id"),
        sa.UniqueConstraint("stripe_invoice_id"),
        sa.UniqueConstraint("stripe_payment_intent_id"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_balance_transaction_id"), ["balance_transaction_id"], unique=False
        )
        batch_op.create_index("ix_payments_donation_paid", ["donation_id", "paid_at"], unique=False)
        batch_op.create_index("ix_payments_paid_at", ["paid_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_stripe_payout_id"), ["stripe_payout_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_payments_stripe_subscription_id"), ["stripe_subscription_id"], unique=False
        )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("api_version", sa.String(length=64), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("event_created_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivery_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_reason", sa.String(length=500), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("process_attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("donation_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["donation_id"],
            ["donations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_event_id"),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_events_donation_id"), ["donation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_needs_review"), ["needs_review"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_events_object_id"), ["object_id"], unique=False)
        batch_op.create_index("ix_webhook_events_outcome_received", ["outcome", "received_at"], unique=False)
        batch_op.create_index("ix_webhook_events_type_created", ["type", "event_created_at"], unique=False)

    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_at", service.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("amount_refunded", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("subscription_status", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("subscription_status_at", service.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("needs_attention", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("attention_reason", sa.String(length=500), nullable=True))
        batch_op.create_index("ix_donations_appeal_paid", ["appeal_id", "paid_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_index("ix_donations_appeal_paid")
        batch_op.drop_column("attention_reason")
        batch_op.drop_column("needs_attention")
        batch_op.drop_column("subscription_status_at")
        batch_op.drop_column("subscription_status")
        batch_op.drop_column("amount_refunded")
        batch_op.drop_column("paid_at")

    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_type_created")
        batch_op.drop_index("ix_webhook_events_outcome_received")
        batch_op.drop_index(batch_op.f("ix_webhook_events_object_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_needs_review"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_donation_id"))

    op.drop_table("webhook_events")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_stripe_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_payments_stripe_payout_id"))
        batch_op.drop_index("ix_payments_paid_at")
        batch_op.drop_index("ix_payments_donation_paid")
        batch_op.drop_index(batch_op.f("ix_payments_balance_transaction_id"))

    op.drop_table("payments")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_payouts_arrival")

    op.drop_table("payouts")
