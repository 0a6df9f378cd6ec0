"""Surge settings: a short wait for budget, this run's own deployment id; Payment Links made by the CLI."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service import extensions
from service.settings import Settings
from tests.support.budgets import SpentBudget

# This run's own deployment id: its Payment Links and Redis keys are no other run's. Fixed for the
# run, so the surge tests share one app per backend (see tests/conftest.py).
SURGE_DEPLOYMENT = f"surge-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(surge_wait_seconds=0.8, deployment_id=SURGE_DEPLOYMENT)


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
