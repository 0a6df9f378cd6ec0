"""Which appeals a report may cover: the token's restriction intersected with the filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.orm import Session

from ...errors import ValidationFailed
from ...models import Appeal
from ..tokens import PermissionDenied, Principal


@dataclass(frozen=True)
class Scope:
    """Appeal ids a query is limited to (None: every appeal) and whether personal data shows."""

    appeal_ids: tuple[int, ...] | None
    personal_data: bool

    def limit(self, column: Any) -> Any:
        """A WHERE clause restricting ``column`` (an appeal id column) to this scope, or None."""
        return None if self.appeal_ids is None else column.in_(self.appeal_ids)


def resolve(db: Session, principal: Principal, appeal: str | None = None) -> Scope:
    """The scope for ``principal`` reading ``appeal`` (a slug, or None for all it may read)."""
    if appeal is not None:
        if not principal.may_read_appeal(appeal):
            raise PermissionDenied("This token may not read that appeal.")
        appeal_id = db.scalar(select(Appeal.id).where(Appeal.slug == appeal))
        if appeal_id is None:
            # A filter value that names nothing is bad input, named, not an empty report.
            raise ValidationFailed(
                f"No appeal is called '{appeal}'.", fields={"appeal": [f"No appeal is called '{appeal}'."]}
            )
        ids: tuple[int, ...] | None = (appeal_id,)
    elif principal.appeals is not None:
        ids = tuple(db.scalars(select(Appeal.id).where(Appeal.slug.in_(principal.appeals))))
    else:
        ids = None
    return Scope(appeal_ids=ids, personal_data=principal.sees_personal_data)


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive UTC dates to a half-open datetime range [start 00:00, end+1 00:00)."""
    lower = datetime.combine(start, time(), tzinfo=UTC) if start else None
    upper = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC) if end else None
    return lower, upper


def utc_day(db: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column (a date on PostgreSQL, ISO text on SQLite)."""
    if db.get_bind().dialect.name == "postgresql":
        # A date cast rather than to_char: grouping a year of payments by day is 2x faster.
        # 'UTC' is written into the SQL, not bound: the planner's statistics on this expression
        # (migration 0022) only match a constant, and psycopg's prepared (generic) plans see a
        # bound value as an unknown parameter.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    # SQLite stores UTC timestamps as ISO text; date() takes the day part.
    return func.date(column)
