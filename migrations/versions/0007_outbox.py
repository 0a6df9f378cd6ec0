"""Email outbox (messages queued in the ledger's transaction, delivered by the job worker) and
why monthly gifts were cancelled

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("donation_id", sa.String(length=40), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=True),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", service.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["donation_id"], ["donations.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_messages_status_due", "outbox_messages", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_messages_donation_id", "outbox_messages", ["donation_id"])
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("cancellation_feedback", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("cancellation_comment", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.drop_column("cancellation_comment")
        batch.drop_column("cancellation_feedback")
    op.drop_index("ix_outbox_messages_donation_id", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_status_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
