"""Donations remember the donor's choice of Direct Debit and their bank mandate's state

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("pay_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("stripe_mandate_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("mandate_status", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("mandate_status_at", service.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_donations_stripe_mandate_id", ["stripe_mandate_id"])


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.drop_index("ix_donations_stripe_mandate_id")
        batch.drop_column("mandate_status_at")
        batch.drop_column("mandate_status")
        batch.drop_column("stripe_mandate_id")
        batch.drop_column("pay_by")
