"""Finance: API tokens (hashes only) and the audit log of finance reads and exports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("appeals", sa.JSON(), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_table(
        "finance_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["finance_api_tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finance_audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_finance_audit_token_at", ["token_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_finance_audit_log_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finance_audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finance_audit_log_at"))
        batch_op.drop_index("ix_finance_audit_token_at")
    op.drop_table("finance_audit_log")
    op.drop_table("finance_api_tokens")
