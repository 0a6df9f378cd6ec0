"""Finance fixtures: tokens per role, and ledgers built through the sandbox with real webhooks.

The ledger fixtures (``live_server``, ``make_donation``, ``ledger``) are the webhook ledger's own,
so finance reads exactly what the ledger writes after the sandbox delivers its signed events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from service import extensions
from service.donations.models import Donation
from service.finance import tokens
from tests.ledger.conftest import Ledger, LiveServer, ledger, live_server, make_donation  # noqa: F401


@pytest.fixture
def issue(app: Flask) -> Callable[..., str]:
    """Create a token the way `flask finance tokens create` does; returns the secret."""

    def make(role: str = "accountant", appeals: list[str] | None = None, days: int = 30,
             now: datetime | None = None) -> str:  # fmt: skip
        with app.app_context(), extensions.database(app).begin() as db:
            return tokens.create_token(db, name=f"test {role}", role=role, days=days,
                                       appeals=appeals, now=now).secret  # fmt: skip

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def finance_get(client: Any, issue: Callable[..., str]) -> Callable[..., Any]:
    """GET a finance API path as a token of ``role`` (accountant by default)."""
    secrets: dict[str, str] = {}

    def get(path: str, role: str = "accountant", **kwargs: Any) -> Any:
        if role not in secrets:
            secrets[role] = issue(role)
        headers = {**bearer(secrets[role]), **kwargs.pop("headers", {})}
        return client.get(f"/api/v1/finance{path}", headers=headers, **kwargs)

    return get


@dataclass
class BuiltLedger:
    """Donations paid, refunded, disputed and renewed in the sandbox, their webhooks applied."""

    paid: str  # gbp 25.00, one-off
    refunded: str  # gbp 10.00, 4.00 refunded
    disputed: str  # eur 50.00, dispute lost
    monthly: str  # gbp 15.00 a month, renewed once
    pending: str  # gbp 7.00, never paid
    payouts: list[dict[str, Any]]


def _donate(client: Any, amount: int, currency: str = "gbp", frequency: str = "one_off",
            source: dict[str, str] | None = None) -> str:  # fmt: skip
    body = {"appeal": "red-cross-ukraine", "amount": amount, "currency": currency, "frequency": frequency,
            "email": "donor@example.org", "source": source or {"utm_source": "guardian"}}  # fmt: skip
    response = client.post("/api/v1/donations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _session_of(app: Flask, donation_id: str) -> Any:
    with extensions.database(app).sessionmaker() as db:
        return db.get(Donation, donation_id)


@pytest.fixture
def built_ledger(app: Flask, client: Any, sandbox: Any, live_server: LiveServer) -> BuiltLedger:  # noqa: F811
    control = sandbox.control
    ids = {
        "paid": _donate(client, 2500),
        "refunded": _donate(client, 1000, source={"utm_source": '=HYPERLINK("http://evil")'}),
        "disputed": _donate(client, 5000, "eur"),
        "monthly": _donate(client, 1500, frequency="monthly"),
        "pending": _donate(client, 700),
    }
    for key in ("paid", "refunded", "disputed", "monthly"):
        control.complete_session(_session_of(app, ids[key]).stripe_checkout_session_id)
    assert control.wait_for_webhooks(timeout=20)
    refunded, disputed = _session_of(app, ids["refunded"]), _session_of(app, ids["disputed"])
    control.refund(refunded.stripe_payment_intent_id, amount=400)
    dispute = control.open_dispute(disputed.stripe_payment_intent_id)
    control.close_dispute(dispute["id"], outcome="lost")
    control.advance_subscription(_session_of(app, ids["monthly"]).stripe_subscription_id)
    assert control.wait_for_webhooks(timeout=20)
    payouts = control.payout()
    assert control.wait_for_webhooks(timeout=20)
    return BuiltLedger(payouts=payouts, **ids)
