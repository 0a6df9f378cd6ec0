"""Spreadsheet-safe CSV, streamed a row at a time.

Cells that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage
return) get a leading apostrophe, as OWASP recommends against CSV injection: a donor's name or
a UTM tag is attacker-controlled text that finance staff open in Excel. Numbers the service
itself writes (a negative amount, say) are not text and are left alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_FORMULA_FIRST = frozenset(FORMULA_START)


def neutralise(text: str) -> str:
    return "'" + text if text[:1] in _FORMULA_FIRST else text


def cell(value: Any) -> str | int | Decimal:
    """One value as it should appear in the file: ISO 8601 dates, exact numbers, safe text."""
    # Exact type checks first: this runs for every cell of a million-row export.
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _FORMULA_FIRST else value
    if value is None:
        return ""
    if kind is int or kind is Decimal:
        return value
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, datetime):
        # UTC to the second in every file: a spreadsheet sorts and compares them as written.
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return value
    return neutralise(str(value))


class _Line:
    """A write-only file that hands back what csv.writer wrote, one row at a time."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def stream_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Yield the header line, then one line per row; holds one row in memory at a time."""
    line = _Line()
    writer = csv.writer(line.buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield line.take()
    for row in rows:
        writer.writerow([cell(value) for value in row])
        yield line.take()
