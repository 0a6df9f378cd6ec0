"""Keyset (cursor) pagination: stable under inserts, and as fast on page 1,000 as on page 1.

A cursor is the sort key of the last row a client saw, base64url-encoded JSON. It is opaque by
convention, not secret: decoding one reveals only a timestamp and an id the client already has.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_

from ..errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """The cursor's values, converted to ``kinds``; ValidationFailed if it was not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("shape")
        values: list[Any] = []
        for kind, value in zip(kinds, raw, strict=True):
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive")
                values.append(parsed)
            elif isinstance(value, kind):
                values.append(value)
            else:
                raise ValueError("type")
        return values
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(fields={"cursor": ["Not a cursor this API issued."]}) from exc


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
