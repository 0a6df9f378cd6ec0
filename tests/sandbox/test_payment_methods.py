"""Checkout's dynamic payment methods in the sandbox: the Dashboard's set less what is excluded."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from sandbox.control import SandboxError

from .conftest import session_params


def euros(**overrides: Any) -> dict[str, Any]:
    params = session_params(**overrides)
    params["line_items"][0]["price_data"]["currency"] = "eur"
    return params


def test_sessions_offer_the_dashboard_set_less_exclusions(stripe_client: Any) -> None:
    client = stripe_client
    assert client.v1.checkout.sessions.create(params=session_params()).payment_method_types == [
        "card", "bacs_debit"
    ]  # fmt: skip
    assert client.v1.checkout.sessions.create(params=euros()).payment_method_types == ["card", "sepa_debit"]
    filtered = client.v1.checkout.sessions.create(params=euros(excluded_payment_method_types=["sepa_debit"]))
    assert filtered.payment_method_types == ["card"]
    allowed = client.v1.checkout.sessions.create(params=euros(allowed_payment_method_types=["sepa_debit"]))
    assert allowed.payment_method_types == ["sepa_debit"]


def test_nothing_left_to_offer_is_refused(stripe_client: Any) -> None:
    client = stripe_client
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=euros(excluded_payment_method_types=["card", "sepa_debit"]))
    assert caught.value.param == "excluded_payment_method_types"


def test_an_excluded_debit_cannot_be_paid_and_is_not_on_the_page(stripe_client: Any, sandbox: Any) -> None:
    client, control = stripe_client, sandbox.control
    session = client.v1.checkout.sessions.create(
        params=session_params(excluded_payment_method_types=["bacs_debit"])
    )
    with pytest.raises(SandboxError) as caught:
        control.complete_session(session.id, "async")
    assert "does not offer a bank debit" in str(caught.value)
    page = requests.get(session.url, timeout=5).text
    assert "Bank debit" not in page
    offered = client.v1.checkout.sessions.create(params=session_params())
    assert "Bank debit" in requests.get(offered.url, timeout=5).text
