"""Keyset (cursor) pagination: stable under inserts, and as fast on page 1,000 as on page 1.

A cursor is the sort key of the last row a client saw (``1733500000000000~don_ab12``). It is opaque
by convention, not secret: it reveals only a timestamp and an id the client already has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_

from schemas.cursor import cursor_pattern

from ..errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LARGEST_ID = 2**31 - 1
ONE_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(values: Sequence[Any]) -> str:
    parts = []
    for value in values:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
            parts.append(str((aware - EPOCH) // ONE_MICROSECOND))
        else:
            parts.append(str(value))
    cursor = "~".join(parts)
    kinds = [datetime if isinstance(v, datetime) else type(v) for v in values]
    if not re.fullmatch(cursor_pattern(kinds), cursor):
        raise ValueError(f"a sort key cannot be written as a cursor: {cursor!r}")
    return cursor


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """The cursor's values, converted to ``kinds``; ValidationFailed if it does not match the pattern."""
    # re.match, as the schema's validator and JSON Schema's "pattern" read it: "$" also matches
    # before one final newline, which is then not part of the cursor.
    if not re.match(cursor_pattern(kinds), cursor):
        raise ValidationFailed(fields={"cursor": ["Not a cursor this API issued."]})
    values: list[Any] = []
    for kind, part in zip(kinds, cursor.removesuffix("\n").split("~"), strict=True):
        if kind is datetime:
            values.append(EPOCH + int(part) * ONE_MICROSECOND)
        elif kind is int:
            # The ids are PostgreSQL integer columns: a number they cannot hold is past every row,
            # and comparing with it is an error there, so it becomes the largest they can hold.
            values.append(min(int(part), LARGEST_ID))
        else:
            values.append(part)
    return values


def after(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in descending order of ``columns``."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        clauses.append(and_(*equal, column < values[i]))
    return or_(*clauses)


def paginate(
    db: Any, query: Select[Any], columns: Sequence[Any], kinds: Sequence[type], cursor: str | None, limit: int
) -> Page:
    """Run ``query`` ordered by ``columns`` descending, one page of ``limit`` rows after ``cursor``."""
    if cursor:
        query = query.where(after(columns, decode_cursor(cursor, kinds)))
    rows = list(db.execute(query.order_by(*[c.desc() for c in columns]).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]._mapping
        next_cursor = encode_cursor([last[c] for c in columns])
    return Page(items=rows, next_cursor=next_cursor)
