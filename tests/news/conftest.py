"""News-native fundraising fixtures: appeals defined in the test, closed or matched as needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from service import extensions
from service.appeals import upsert_appeals, validate_definitions
from tests.browser.conftest import live_server  # noqa: F401 - the service on a real socket, for browsers
from tests.finance.conftest import finance_get, issue  # noqa: F401 - finance tokens
from tests.publishers.conftest import fresh_figures, give, ledger, webhooks  # noqa: F401 - shared fixtures

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


@pytest.fixture
def load_appeals(app: Flask) -> Callable[..., None]:
    """Load appeal definitions the way ``flask appeals load`` does, and forget cached appeals."""

    def load(*definitions: dict[str, Any]) -> None:
        with app.app_context(), extensions.database(app).begin() as session:
            upsert_appeals(session, validate_definitions(list(definitions)))
        extensions.appeal_cache(app).clear()
        extensions.progress_cache(app).clear()

    return load


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


@pytest.fixture
def matched_appeal(load_appeals: Any) -> str:
    """An appeal matched 1:1 up to £50 for UK residents (Gift Aid or postcode), one-off and first monthly."""
    load_appeals(appeal("matched", gift_aid_enabled=True, currencies=["gbp", "eur"], match_funding=[RULE]))
    return "matched"
