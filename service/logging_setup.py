"""JSON log lines on stdout, each carrying the request id when there is one.

Log static event names with identifiers as fields; never whole objects, payloads or secrets.

The request id is Flask's ``g.request_id`` in a request context; a request answered in front of
Flask (the donation and webhook fast paths) has no request context, and sets ``REQUEST_ID`` for
the time it works instead (:func:`logged_with_request_id`). A ``ContextVar`` is per thread and,
under gevent, per greenlet (greenlet gives each greenlet its own context), so requests served
concurrently by one worker never see each other's id.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

# The id of the request being answered outside Flask's request context (see the docstring).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def logged_with_request_id(request_id: str) -> Iterator[None]:
    """Every log line written meanwhile (in this thread or greenlet) carries ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = g.get("request_id") if has_request_context() else None
        request_id = request_id or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_donation_router", False) for h in root.handlers):
        root.setLevel(level)
        return
    # No line shows the thread or the calling file and line (JsonFormatter writes neither,
    # gunicorn's own format has neither): do not look them up for every record. Under gevent the
    # thread is the greenlet's id through gevent's patched get_ident (1 % of a donation's CPU in
    # bench.profile_served), and the caller is a walk up the stack (0.6 %). The logging HOWTO's
    # "Optimization" section names both settings for exactly this; an exception's traceback
    # still says where it was raised.
    logging.logThreads = False
    logging._srcfile = None  # noqa: SLF001 - the HOWTO's documented switch
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._donation_router = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access log duplicates ours and stripe-python logs request details at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
