"""Settlement-currency amounts on payments: gross, refunds and dispute withdrawals as Stripe booked them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("settlement_amount", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("settlement_refunded", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("settlement_disputed", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Payments recorded before this revision that settled in their own currency were not
    # converted: their settlement figures are their charge figures. Converted ones keep
    # settlement_amount empty (shown as unknown) until `flask stripe sync-events` refetches them.
    op.execute(
        "UPDATE payments SET settlement_amount = amount, settlement_refunded = amount_refunded, "
        "settlement_disputed = CASE WHEN dispute_status IN "
        "('needs_response', 'under_review', 'lost') THEN COALESCE(dispute_amount, 0) ELSE 0 END "
        "WHERE settlement_currency = currency"
    )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("settlement_disputed")
        batch.drop_column("settlement_refunded")
        batch.drop_column("settlement_amount")
