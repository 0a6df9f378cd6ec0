"""Finance fixtures: a ledger built through the sandbox with real webhooks.

Finance reads exactly what the ledger writes after the sandbox delivers its signed events; tokens
per role (``issue``, ``finance_get``) and the ledger's fixtures are the suite's (tests/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from tests.support.finance import donate, stored_donation
from tests.support.servers import LiveServer


@dataclass
class BuiltLedger:
    """Donations paid, refunded, disputed and renewed in the sandbox, their webhooks applied."""

    paid: str  # gbp 25.00, one-off
    refunded: str  # gbp 10.00, 4.00 refunded
    disputed: str  # eur 50.00, dispute lost
    monthly: str  # gbp 15.00 a month, renewed once
    pending: str  # gbp 7.00, never paid
    payouts: list[dict[str, Any]]


@pytest.fixture
def built_ledger(app: Flask, client: Any, sandbox: Any, live_server: LiveServer) -> BuiltLedger:
    control = sandbox.control
    ids = {
        "paid": donate(client, 2500),
        "refunded": donate(client, 1000, source={"utm_source": '=HYPERLINK("http://evil")'}),
        "disputed": donate(client, 5000, "eur"),
        "monthly": donate(client, 1500, frequency="monthly"),
        "pending": donate(client, 700),
    }
    for key in ("paid", "refunded", "disputed", "monthly"):
        control.complete_session(stored_donation(app, ids[key]).stripe_checkout_session_id)
    assert control.wait_for_webhooks(timeout=20)
    refunded, disputed = stored_donation(app, ids["refunded"]), stored_donation(app, ids["disputed"])
    control.refund(refunded.stripe_payment_intent_id, amount=400)
    dispute = control.open_dispute(disputed.stripe_payment_intent_id)
    control.close_dispute(dispute["id"], outcome="lost")
    control.advance_subscription(stored_donation(app, ids["monthly"]).stripe_subscription_id)
    assert control.wait_for_webhooks(timeout=20)
    payouts = control.payout()
    assert control.wait_for_webhooks(timeout=20)
    return BuiltLedger(payouts=payouts, **ids)
