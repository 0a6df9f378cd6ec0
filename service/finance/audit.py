"""The finance audit log: every read and export, written in its own transaction.

Entries are committed separately from the request's own work so a report that later fails, or
an export the client abandons half-way, is still on record as having been asked for.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import AuditEntry
from .tokens import Principal


def _plain(filters: dict[str, Any]) -> dict[str, Any]:
    """Filters as JSON-safe values; None values are dropped so entries stay short."""
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, list | tuple):
            value = [str(v) for v in value]
        elif not isinstance(value, str | int | float | bool):
            value = str(value)
        out[key] = value
    return out


def record(
    sessions: sessionmaker[Session],
    principal: Principal | None,
    action: str,
    filters: dict[str, Any] | None = None,
    *,
    row_count: int | None = None,
    channel: str = "api",
    request_id: str | None = None,
) -> int:
    """Write one entry and commit it; returns its id (so an export can fill in its row count)."""
    with sessions.begin() as db:
        entry = AuditEntry(
            token_id=principal.token_id if principal else None,
            channel=channel,
            action=action,
            filters=_plain(filters or {}),
            row_count=row_count,
            request_id=request_id,
        )
        db.add(entry)
        db.flush()
        return entry.id


def set_row_count(sessions: sessionmaker[Session], entry_id: int, row_count: int) -> None:
    with sessions.begin() as db:
        db.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(row_count=row_count))


def recent(db: Session, limit: int = 100) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
