"""Which requests Flask itself handled: a WSGI layer in front of it (the progress and webhook fast
paths) answers some without Flask ever seeing them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, request, request_started


@contextmanager
def requests_flask_handled(app: Flask, *, with_query: bool = False) -> Iterator[list[str]]:
    """The paths (``with_query``: path and query) of the requests Flask handles meanwhile."""
    seen: list[str] = []

    def record(sender: Flask, **extra: Any) -> None:
        seen.append(request.full_path if with_query else request.path)

    request_started.connect(record, app)
    try:
        yield seen
    finally:
        request_started.disconnect(record, app)
