"""Connect: transfers to charities' accounts, and payouts of those accounts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donation_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("stripe_transfer_id", sa.String(length=255), nullable=False),
        sa.Column("destination_account", sa.String(length=255), nullable=False),
        sa.Column("destination_payment_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_reversed", sa.BigInteger(), nullable=False),
        sa.Column("stripe_payout_id", sa.String(length=255), nullable=True),
        sa.Column("transferred_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["donation_id"], ["donations.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_transfer_id"),
    )
    op.create_index("ix_transfers_donation_id", "transfers", ["donation_id"])
    op.create_index("ix_transfers_payment_id", "transfers", ["payment_id"])
    op.create_index("ix_transfers_destination_account", "transfers", ["destination_account"])
    op.create_index("ix_transfers_destination_payment_id", "transfers", ["destination_payment_id"])
    op.create_index("ix_transfers_stripe_payout_id", "transfers", ["stripe_payout_id"])
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("account", sa.String(length=255), nullable=True))
        batch.create_index("ix_payouts_account", ["account"])


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_index("ix_payouts_account")
        batch.drop_column("account")
    op.drop_table("transfers")
