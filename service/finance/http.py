"""Flask glue shared by the finance API and pages: CSV negotiation, streaming, default ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from flask import Response, request

from .. import db
from ..models import utcnow
from . import audit, auth
from .csv_export import stream_csv
from .models import Role

DEFAULT_DAYS = 30


def wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format") == "csv":
        return True
    if args.get("format") == "json":
        return False
    # JSON wins a tie (Accept: */*), so only a client asking for CSV by name gets it.
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def date_range(start: date | None, end: date | None) -> tuple[date, date]:
    """The asked-for range, filling a missing end with today and a missing start with 30 days before."""
    end = end or utcnow().date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    return start, end


def csv_response(
    action: str,
    filters: dict[str, Any],
    header: Sequence[str],
    rows: Callable[[Any], Iterable[Sequence[Any]]],
) -> Response:
    """Stream ``rows(connection)`` as CSV on a connection of its own, audited with its row count.

    The export needs the accountant role. The audit entry is written before the first byte, so
    an export cut short is still on record, and its row count is filled in when it ends.
    """
    auth.require(Role.ACCOUNTANT)
    database = db.database()
    entry_id = auth.log_read(action + ".csv", filters)
    engine, sessions = database.engine, database.sessionmaker

    def generate() -> Iterator[str]:
        count = 0
        with engine.connect() as connection:
            try:
                for line in stream_csv(header, rows(connection)):
                    yield line
                    count += 1
            finally:
                audit.set_row_count(sessions, entry_id, max(count - 1, 0))

    filename = f"{action.replace('.', '-')}-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return Response(
        generate(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def query_rows(query: Any) -> Callable[[Any], Iterator[list[Any]]]:
    """A rows() function streaming ``query`` through a server-side cursor."""
    from .reports.export import stream_query

    return lambda connection: stream_query(connection, query)


def dict_rows(
    items: Iterable[dict[str, Any]], columns: Sequence[str]
) -> Callable[[Any], Iterator[list[Any]]]:
    """For small reports already in memory: a rows() function over their dicts."""

    def rows(_connection: Any) -> Iterator[list[Any]]:
        for item in items:
            yield [item.get(column) for column in columns]

    return rows
