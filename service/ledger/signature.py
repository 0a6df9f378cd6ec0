"""Checking a ``Stripe-Signature`` header against the raw request body.

Stripe signs ``"{timestamp}.{body}"`` with HMAC-SHA256 and sends ``t=<ts>,v1=<hex>[,v1=...]``.
stripe-python's ``construct_event`` accepts any timestamp in the future and builds a full object
tree we do not need, so the few lines it takes are written out here with the tolerance applied
in both directions: a timestamp far ahead is as suspect as an old one.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from hashlib import sha256

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The delivery is not provably from Stripe; ``reason`` is a short, loggable code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed_header")
        if key == "t":
            if not value.isdigit() or len(value) > 12:
                raise SignatureError("malformed_header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("malformed_header")
    if not signatures:
        raise SignatureError("no_v1_signature")
    return timestamp, signatures


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Return the signed timestamp if one of ``secrets`` signed ``payload``; raise SignatureError."""
    if not header:
        raise SignatureError("missing_header")
    if len(header) > 4096:
        raise SignatureError("malformed_header")
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError("timestamp_too_old")
    if timestamp > current + tolerance:
        raise SignatureError("timestamp_in_future")
    signed = str(timestamp).encode() + b"." + payload
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), signed, sha256).hexdigest()
        # Compare against every v1 value: during a rotation Stripe sends one per secret.
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    raise SignatureError("no_matching_signature")
