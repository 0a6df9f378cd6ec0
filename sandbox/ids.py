"""Identifiers shaped like Stripe's, and the clock."""

from __future__ import annotations

import random
import string
import time

_ALPHABET = string.ascii_letters + string.digits


# Each random byte read as one of the 62 characters. Ids need to be unique, not secret or evenly
# spread: the fast generator is enough, and one C call per id (bytes read through a table) costs a
# tenth of ``random.choices`` picking the characters one by one in Python, which was 6 % of the
# sandbox's CPU in a benchmark, on the cores the service under test uses (bench/README.md).
_BYTE_TO_CHARACTER = bytes(ord(_ALPHABET[byte % len(_ALPHABET)]) for byte in range(256))


def random_token(length: int) -> str:
    return random.randbytes(length).translate(_BYTE_TO_CHARACTER).decode("ascii")


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
