"""The finance API's cursor format, part of its contract: the pattern the OpenAPI document gives.

Plain constants: service/finance/pagination.py writes and reads cursors by this pattern, and the
schemas validate them with it, so neither depends on the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

# A cursor is written so that a pattern describes it exactly (the OpenAPI document gives the
# pattern, and every string that matches it is a cursor this API can read): each sort key in
# turn, joined by "~"; a timestamp as microseconds since 1970 UTC, an id as it is.
CURSOR_PARTS: dict[type, str] = {int: "[0-9]{1,18}", datetime: "[0-9]{1,16}", str: "[A-Za-z0-9_]{1,64}"}


def cursor_pattern(kinds: Sequence[type]) -> str:
    """The regular expression every cursor for sort keys of ``kinds`` matches, and only those."""
    return "^" + "~".join(CURSOR_PARTS[kind] for kind in kinds) + "$"
