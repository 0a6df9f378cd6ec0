"""Finance tables: API tokens (hashes only) and the audit log of every finance read.

Registered on ``Base.metadata`` for Alembic and the tests' clean-up through :mod:`service.tables`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, utcnow


class Role:
    """Each role includes everything the roles before it may do."""

    VIEWER = "viewer"  # reports without donor personal data
    ACCOUNTANT = "accountant"  # reports with personal data, and exports
    ADMIN = "admin"  # also replays and token management

    ALL = (VIEWER, ACCOUNTANT, ADMIN)

    @classmethod
    def rank(cls, role: str) -> int:
        return cls.ALL.index(role)


class ApiToken(Base):
    """A finance API token. The secret itself is never stored: only its SHA-256 digest.

    ``prefix`` is the public half printed in listings and used to find the row, so checking a
    token costs one indexed lookup and one constant-time comparison.
    """

    __tablename__ = "finance_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # Appeal slugs this token may read; None means every appeal.
    appeals: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One finance read or export: who (token), what, with which filters, when, how many rows."""

    __tablename__ = "finance_audit_log"
    __table_args__ = (Index("ix_finance_audit_token_at", "token_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("finance_api_tokens.id"))
    channel: Mapped[str] = mapped_column(String(8))  # api | page | cli
    action: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    row_count: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
