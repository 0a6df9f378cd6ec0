"""Appeal definitions written in a test (news-native fundraising), and a match-funding rule."""

from __future__ import annotations

from typing import Any

BASE_APPEAL: dict[str, Any] = {
    "title": "Appeal",
    "charity_name": "British Red Cross",
    "currencies": ["gbp", "eur"],
    "suggested_amounts": {"gbp": [1000, 2500]},
}


def appeal(slug: str, **fields: Any) -> dict[str, Any]:
    return {
        **BASE_APPEAL,
        "slug": slug,
        "title": fields.pop("title", slug.replace("-", " ").title()),
        **fields,
    }


GIFT_AID = {
    "first_name": "Olena",
    "last_name": "Smith",
    "house": "12",
    "postcode": "sw1a 1aa",
    "declaration": True,
}
RULE = {
    "funder": "UK Aid Match",
    "ratio": "1:1",
    "caps": {"gbp": 5000},
    "starts_at": "2026-01-01T00:00:00Z",
    "ends_at": "2099-01-01T00:00:00Z",
    "eligibility": {
        "uk_residence": ["gift_aid_declaration", "postcode"],
        "payments": ["one_off", "first_monthly"],
    },
}
