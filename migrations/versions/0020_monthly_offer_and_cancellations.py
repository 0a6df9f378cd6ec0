"""Donor lifecycle: the monthly offer before Checkout, and who stopped a monthly gift

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = service.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("monthly_offer", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("monthly_offer", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("one_off_amount", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("portal_cancel_opened_at", UTC, nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("cancelled_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.drop_column("cancelled_at")
        batch.drop_column("cancelled_by")
        batch.drop_column("portal_cancel_opened_at")
        batch.drop_column("one_off_amount")
        batch.drop_column("monthly_offer")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("monthly_offer")
