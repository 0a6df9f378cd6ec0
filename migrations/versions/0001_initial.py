"""Appeals, donations and idempotency records

Revision ID: 0001
Revises:
Create Date: 2026-11-25 09:27:32.092162
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("charity_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("currencies", sa.JSON(), nullable=False),
        sa.Column("suggested_amounts", sa.JSON(), nullable=False),
        sa.Column("minimum_amounts", sa.JSON(), nullable=False),
        sa.Column("maximum_amounts", sa.JSON(), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("goal_amount", sa.BigInteger(), nullable=True),
        sa.Column("goal_currency", sa.String(length=3), nullable=True),
        sa.Column("opens_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stripe_account", sa.String(length=255), nullable=True),
        sa.Column("statement_descriptor_suffix", sa.String(length=22), nullable=True),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "donations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("utm_term", sa.String(length=200), nullable=True),
        sa.Column("utm_content", sa.String(length=200), nullable=True),
        sa.Column("stripe_checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("checkout_expires_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column("last_error_message", sa.String(length=500), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_checkout_session_id"),
    )
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.create_index("ix_donations_appeal_created", ["appeal_id", "created_at"], unique=False)
        batch_op.create_index("ix_donations_status", ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_donations_stripe_payment_intent_id"),
            ["stripe_payment_intent_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_donations_stripe_subscription_id"),
            ["stripe_subscription_id"],
            unique=False,
        )

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("donation_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donation_id"],
            ["donations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_records")
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donations_stripe_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_donations_stripe_payment_intent_id"))
        batch_op.drop_index("ix_donations_status")
        batch_op.drop_index("ix_donations_appeal_created")

    op.drop_table("donations")
    op.drop_table("appeals")
