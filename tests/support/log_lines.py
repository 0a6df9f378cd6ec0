"""The lines a logger writes, formatted and redacted as the app's handler writes them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from service.log_redaction import RedactingFilter
from service.logging_setup import JsonFormatter


@contextmanager
def lines_written(logger_name: str) -> Iterator[list[str]]:
    """Every line ``logger_name`` (and its children) logs at INFO and above while inside, formatted
    when logged (inside a request context the formatter adds the request id itself)."""
    written: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield written
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
