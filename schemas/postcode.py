"""UK postcodes as HMRC asks for them on a Gift Aid claim: a plain rule the donor forms' schemas
check and the Gift Aid schedule (service/gift_aid.py) writes."""

from __future__ import annotations

import re

# A UK postcode: outward code, a space, inward code (BFPO and overseas addresses are not offered).
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def normalise_postcode(raw: str) -> str | None:
    """'sw1a1aa' -> 'SW1A 1AA' as HMRC asks; None when it is not a UK postcode."""
    match = POSTCODE.match(re.sub(r"\s+", "", raw.upper()))
    return f"{match.group(1)} {match.group(2)}" if match else None
