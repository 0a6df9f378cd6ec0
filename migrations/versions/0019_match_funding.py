"""Match funding: rules per funder and appeal, caps per currency, an allocation per rule and payment, a donor's postcode

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = service.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "match_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("funder", sa.String(length=200), nullable=False),
        sa.Column("ratio_funder", sa.Integer(), nullable=False),
        sa.Column("ratio_donor", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTC, nullable=True),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("individual_donors", sa.Boolean(), nullable=False),
        sa.Column("uk_residence", sa.JSON(), nullable=False),
        sa.Column("payments", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appeal_id", "funder", name="uq_match_rules_appeal_funder"),
    )
    op.create_table(
        "match_caps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["match_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "currency", name="uq_match_caps_rule_currency"),
    )
    op.create_table(
        "match_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("donation_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gift_amount", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("residence_evidence", sa.String(length=32), nullable=True),
        sa.Column("postcode_district", sa.String(length=8), nullable=True),
        sa.Column("payment_kind", sa.String(length=16), nullable=False),
        sa.Column("paid_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["donation_id"], ["donations.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["rule_id"], ["match_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "payment_id", name="uq_match_allocations_rule_payment"),
    )
    op.create_index("ix_match_allocations_rule_paid", "match_allocations", ["rule_id", "paid_at"])
    op.create_index("ix_match_allocations_donation_id", "match_allocations", ["donation_id"])
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("match_postcode", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.drop_column("match_postcode")
    op.drop_table("match_allocations")
    op.drop_table("match_caps")
    op.drop_table("match_rules")
