"""Publisher and donor-option fixtures: gifts made the real way and paid through the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from service import extensions
from service.donations.models import Donation
from tests.browser.conftest import live_server  # noqa: F401 - the service on a real socket, for browsers
from tests.ledger.conftest import Ledger, serving_webhooks

GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp"}
GIFT_AID = {
    "first_name": "Olena",
    "last_name": "Smith-Jones",
    "house": "12",
    "postcode": "sw1a 1aa",
    "declaration": True,
}


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


@pytest.fixture
def webhooks(app: Flask, sandbox: Any) -> Iterator[str]:
    """The app on a free port with the sandbox delivering its signed events there (the real ledger)."""
    with serving_webhooks(app, sandbox) as url:
        yield url


@pytest.fixture
def give(client: Any, sandbox: Any, ledger: Ledger) -> Callable[..., Donation]:
    """POST a donation through the API, pay it in the sandbox and wait for the ledger to record it."""

    def make(pay: bool = True, **body: Any) -> Donation:
        response = client.post("/api/v1/donations", json={**GIFT, **body})
        assert response.status_code == 201, response.get_json()
        donation = ledger.donation(response.get_json()["id"])
        if pay:
            sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
            assert sandbox.control.wait_for_webhooks(timeout=20), "webhook deliveries did not finish"
            donation = ledger.donation(donation.id)
        return donation

    return make


@pytest.fixture
def fresh_figures(app: Flask) -> Callable[[], None]:
    """Forget cached progress, as if its short time-to-live had passed."""
    return extensions.progress_cache(app).clear
