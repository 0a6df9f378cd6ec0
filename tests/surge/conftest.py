"""Surge fixtures: a short wait for budget, a unique budget key, Payment Links made by the CLI."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service import extensions
from service.settings import Settings


class SpentBudget:
    """A call budget that is always spent, as on the night of a telethon."""

    def __init__(self) -> None:
        self.asked = 0

    def acquire(self, max_wait: float) -> bool:
        self.asked += 1
        return False


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A unique deployment id also gives each test its own Redis budget key.
    return settings.with_overrides(surge_wait_seconds=0.8, deployment_id=f"surge-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def payment_links(runner: Any) -> str:
    result = runner.invoke(args=["surge", "payment-links", "create"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def spent(app: Any) -> SpentBudget:
    budget = SpentBudget()
    extensions.stripe_gateway(app).budget = budget
    return budget
