"""CSV downloads for the finance API and pages: whether the client asked for CSV, the file's name,
and the streamed, audited answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, request

from .. import db
from ..models import utcnow
from . import audit, auth
from .csv_export import stream_csv
from .use_cases import Export, require_export


def wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format") == "csv":
        return True
    if args.get("format") == "json":
        return False
    # JSON wins a tie (Accept: */*), so only a client asking for CSV by name gets it.
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def csv_filename(name: str, period: tuple[Any, Any], *, stem: str | None = None) -> str:
    """``donations-2026-11-01-to-2026-11-30.csv``: the file says which days it covers, not when
    it was downloaded; a list without a range covers everything up to today."""
    start, end = period
    stem = stem or name.replace(".", "-").replace("_", "-")
    end_day = end or utcnow().date()
    if start == end_day:
        return f"{stem}-{start.isoformat()}.csv"
    if start is None:
        return f"{stem}-to-{end_day.isoformat()}.csv"
    return f"{stem}-{start.isoformat()}-to-{end_day.isoformat()}.csv"


def stream(export: Export) -> Response:
    """Stream an export's rows as CSV on a connection of its own, audited with its row count.

    The export needs the accountant role. The audit entry is written before the first byte, so
    an export cut short is still on record, and its row count is filled in when it ends.
    """
    require_export()
    database = db.database()
    entry_id = auth.log_read(export.name + ".csv", export.filters)
    engine, sessions = database.engine, database.sessionmaker
    rows = export.rows

    def generate() -> Iterator[str]:
        count = 0
        with engine.connect() as connection:
            try:
                for line in stream_csv(export.header, rows(connection)):
                    yield line
                    count += 1
            finally:
                audit.set_row_count(sessions, entry_id, max(count - 1, 0))

    return Response(
        generate(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{csv_filename(export.name, export.period, stem=export.file_stem)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
