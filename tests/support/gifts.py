"""A typical gift to the seeded appeal, and a Gift Aid declaration to go with it."""

from __future__ import annotations

GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp"}
GIFT_AID = {
    "first_name": "Olena",
    "last_name": "Smith-Jones",
    "house": "12",
    "postcode": "sw1a 1aa",
    "declaration": True,
}
