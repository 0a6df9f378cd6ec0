"""Publishers and donor options: fee cover, anonymous gifts, Gift Aid declarations, donor locale

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-25 09:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(
            sa.Column("gift_aid_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("fee_cover_amount", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("gift_aid", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("gift_aid_title", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("gift_aid_first_name", sa.String(length=35), nullable=True))
        batch.add_column(sa.Column("gift_aid_last_name", sa.String(length=35), nullable=True))
        batch.add_column(sa.Column("gift_aid_house", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("gift_aid_postcode", sa.String(length=10), nullable=True))
        batch.add_column(
            sa.Column("gift_aid_declared_at", service.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("gift_aid_wording_version", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        for name in (
            "gift_aid_wording_version", "gift_aid_declared_at", "gift_aid_postcode", "gift_aid_house",
            "gift_aid_last_name", "gift_aid_first_name", "gift_aid_title", "gift_aid", "locale",
            "anonymous", "fee_cover_amount",
        ):  # fmt: skip
            batch.drop_column(name)
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("gift_aid_enabled")
