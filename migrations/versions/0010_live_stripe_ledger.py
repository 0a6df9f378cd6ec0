"""Live Stripe's shapes: manual and instant payouts (not itemised), dispute fees, failed refunds

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automatic", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("method", sa.String(length=16), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispute_fee", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("amount_refund_failed", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("amount_refund_failed")
        batch_op.drop_column("dispute_fee")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_column("method")
        batch_op.drop_column("automatic")
