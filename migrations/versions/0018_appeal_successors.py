"""Links that outlive their appeal: an appeal's successor, and the appeal a donor's link named

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("general_fund", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("successor_slug", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("successor_general_fund", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("successor_reason", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column("successor_when_funded", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("requested_appeal_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_donations_requested_appeal_id_appeals", "appeals", ["requested_appeal_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.drop_constraint("fk_donations_requested_appeal_id_appeals", type_="foreignkey")
        batch.drop_column("requested_appeal_id")
    with op.batch_alter_table("appeals") as batch:
        for name in (
            "successor_when_funded", "successor_reason", "successor_general_fund", "successor_slug",
            "general_fund",
        ):  # fmt: skip
            batch.drop_column(name)
