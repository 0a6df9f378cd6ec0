"""Identifiers shaped like Stripe's, and the clock."""

from __future__ import annotations

import random
import string
import time

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    # Ids need to be unique, not secret: the fast generator is enough.
    return "".join(random.choices(_ALPHABET, k=length))


def new_id(prefix: str) -> str:
    """An id such as ``pi_3QabcDEF...``: Stripe's own ids are 24 characters after the prefix."""
    if prefix == "cs":
        # Checkout Session ids are much longer and carry the mode in the prefix.
        return "cs_test_" + random_token(58)
    if prefix in ("cus", "prod", "si"):
        return f"{prefix}_{random_token(14)}"
    return f"{prefix}_{random_token(24)}"


def request_id() -> str:
    return "req_" + random_token(14)


def now() -> int:
    return int(time.time())
