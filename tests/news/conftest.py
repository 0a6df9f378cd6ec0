"""News-native fundraising fixtures: appeals defined in the test (tests/support/appeal_definitions.py),
closed or matched as needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from service import extensions
from service.appeals import upsert_appeals, validate_definitions
from tests.support.appeal_definitions import RULE, appeal


@pytest.fixture
def load_appeals(app: Flask) -> Callable[..., None]:
    """Load appeal definitions the way ``flask appeals load`` does, and forget cached appeals."""

    def load(*definitions: dict[str, Any]) -> None:
        with app.app_context(), extensions.database(app).begin() as session:
            upsert_appeals(session, validate_definitions(list(definitions)))
        extensions.appeal_cache(app).clear()
        extensions.progress_cache(app).clear()

    return load


@pytest.fixture
def matched_appeal(load_appeals: Any) -> str:
    """An appeal matched 1:1 up to £50 for UK residents (Gift Aid or postcode), one-off and first monthly."""
    load_appeals(appeal("matched", gift_aid_enabled=True, currencies=["gbp", "eur"], match_funding=[RULE]))
    return "matched"
