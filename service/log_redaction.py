"""Scrub secrets and personal data from every log record before any handler writes it.

Code should never log a key, a signature or an email in the first place; this filter is the
second line of defence for the day someone logs an exception message, a header or a payload
(Stripe's ``SignatureVerificationError`` carries the whole request body, for instance).
It is attached to every handler on the root logger, so third-party loggers are covered too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .logging_setup import RESERVED

REDACTED = "[redacted]"

PATTERNS: tuple[re.Pattern[str], ...] = (
    # Stripe secret and restricted keys, webhook signing secrets, and other providers' keys
    # of the same shape.
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9_]+"),
    re.compile(r"\b(?:sk|rk)_[A-Za-z0-9]{16,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9_]+"),
    # A Stripe-Signature header value: t=...,v1=<hex>[,v0=...].
    re.compile(r"\bt=\d+(?:\s*,\s*v\d+=[0-9a-fA-F]*)+"),
    re.compile(r"\bv[01]=[0-9a-fA-F]{32,}"),
    # Bearer tokens (finance API, metrics scraping).
    re.compile(r"(?i:\bbearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # Email addresses: donors' personal data.
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
)


# Any of them, in one pass: nearly every string logged (an event name, a path, an id) has
# nothing to redact, and one search instead of a substitution per pattern saves most of the
# filter's cost on every line (every request writes at least its access line).
ANY_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for pattern in PATTERNS))


def redact(text: str) -> str:
    """``text`` with every secret-looking or email-looking part replaced by ``[redacted]``."""
    if ANY_PATTERN.search(text) is None:
        return text
    for pattern in PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else would be str()-ed by the formatter; do it here so it is scrubbed first.
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites the record in place: message, arguments, extra fields and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in RESERVED and not key.startswith("_"):
                record.__dict__[key] = _redact_value(value)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatters print the exception's text; render it now, scrubbed, and keep only that.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


_FILTER = RedactingFilter()


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (the root logger by default); idempotent."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(_FILTER)
