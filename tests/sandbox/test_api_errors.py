"""Errors in Stripe's shape, for what Stripe would reject."""

from __future__ import annotations

import time

import pytest
import requests
import stripe


def _price(currency: str, amount: int, **extra):
    return [{"quantity": 1, "price_data": {"currency": currency, "unit_amount": amount,
                                           "product_data": {"name": "Appeal"}, **extra}}]  # fmt: skip


def test_missing_api_key_is_401(sandbox):
    resp = requests.get(f"{sandbox.base_url}/v1/charges", timeout=5)
    assert resp.status_code == 401
    assert resp.headers["Request-Id"].startswith("req_")
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]


@pytest.mark.parametrize("key", ["pk_test_123456", "sk_live_123456", "sk_test_"])
def test_malformed_api_key_is_401(sandbox, key):
    client = stripe.StripeClient(key, base_addresses={"api": sandbox.base_url})
    with pytest.raises(stripe.AuthenticationError) as info:
        client.v1.charges.list()
    assert info.value.http_status == 401
    assert "Invalid API Key provided" in info.value.user_message


def test_unknown_parameter(stripe_client, donation):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation(colour="red"))
    err = info.value
    assert (err.http_status, err.code, err.param) == (400, "parameter_unknown", "colour")
    assert err.json_body["error"]["doc_url"].startswith("https://docs.stripe.com/")
    assert err.request_id.startswith("req_")


def test_unknown_nested_parameter(stripe_client, donation):
    params = donation()
    params["line_items"][0]["price_data"]["colour"] = "red"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.param == "line_items[0][price_data][colour]"


@pytest.mark.parametrize(
    ("drop", "param"),
    [("mode", "mode"), ("success_url", "success_url"), ("line_items", "line_items")],
)
def test_missing_required_parameter(stripe_client, donation, drop, param):
    params = donation()
    del params[drop]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert (info.value.code, info.value.param) == ("parameter_missing", param)


def test_missing_nested_required_parameter(stripe_client, donation):
    params = donation()
    # An empty dict would not be sent at all: stripe-python encodes only leaves.
    params["line_items"][0]["price_data"]["product_data"] = {"description": "no name"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.code == "parameter_missing"
    assert info.value.param == "line_items[0][price_data][product_data][name]"


def test_wrong_type(stripe_client, donation):
    params = donation(line_items=_price("gbp", "five pounds"))
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.code == "parameter_invalid_integer"
    assert info.value.param == "line_items[0][price_data][unit_amount]"


@pytest.mark.parametrize(("offset", "ok"), [(29 * 60, False), (31 * 60, True),
                                            (23 * 3600, True), (25 * 3600, False)])  # fmt: skip
def test_expires_at_bounds(stripe_client, donation, offset, ok):
    params = donation(expires_at=int(time.time()) + offset)
    if ok:
        assert stripe_client.v1.checkout.sessions.create(params=params).expires_at == (params["expires_at"])
        return
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.param == "expires_at"


@pytest.mark.parametrize(
    ("currency", "minimum"), [("gbp", 30), ("usd", 50), ("eur", 50), ("jpy", 50), ("chf", 50)]
)
def test_minimum_charge_amount_per_currency(stripe_client, donation, currency, minimum):
    ok = stripe_client.v1.checkout.sessions.create(params=donation(line_items=_price(currency, minimum)))
    assert ok.amount_total == minimum
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation(line_items=_price(currency, minimum - 1)))
    assert info.value.code == "amount_too_small"
    assert "total amount due must add up to at least" in info.value.user_message


def test_jpy_is_zero_decimal(stripe_client, donation):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation(line_items=_price("jpy", 49)))
    assert "¥50" in info.value.user_message


def test_eight_digit_maximum(stripe_client, donation):
    ok = stripe_client.v1.checkout.sessions.create(params=donation(line_items=_price("usd", 99_999_999)))
    assert ok.amount_total == 99_999_999
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation(line_items=_price("usd", 100_000_000)))
    assert info.value.code == "amount_too_large"
    items = _price("usd", 60_000_000)
    items[0]["quantity"] = 2
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation(line_items=items))
    assert info.value.code == "amount_too_large"


def test_recurring_price_in_payment_mode(stripe_client, donation):
    params = donation(line_items=_price("gbp", 500, recurring={"interval": "month"}))
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        stripe_client.v1.checkout.sessions.create(params=params)


def test_subscription_mode_needs_recurring_price(stripe_client, donation):
    with pytest.raises(stripe.InvalidRequestError, match="at least one recurring price"):
        stripe_client.v1.checkout.sessions.create(params=donation(mode="subscription"))


def test_payment_intent_data_not_allowed_in_subscription_mode(stripe_client, monthly):
    params = monthly(payment_intent_data={"metadata": {"a": "b"}})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.param == "payment_intent_data"


def test_resource_missing_is_404(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.retrieve("cs_test_nope")
    err = info.value
    assert (err.http_status, err.code) == (404, "resource_missing")
    assert "No such checkout.session: 'cs_test_nope'" in err.user_message


def test_unknown_url_is_404(sandbox):
    resp = requests.get(f"{sandbox.base_url}/v1/teleports", auth=("sk_test_x", ""), timeout=5)
    assert resp.status_code == 404
    assert "Unrecognized request URL" in resp.json()["error"]["message"]


def test_json_body_is_accepted(sandbox, donation):
    resp = requests.post(
        f"{sandbox.base_url}/v1/checkout/sessions",
        json=donation(),
        headers={"Authorization": "Bearer sk_test_json"},
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["amount_total"] == 500


def test_json_body_types_are_checked(sandbox, donation):
    params = donation()
    params["line_items"][0]["quantity"] = [1]
    resp = requests.post(
        f"{sandbox.base_url}/v1/checkout/sessions", json=params,
        headers={"Authorization": "Bearer sk_test_json"}, timeout=5,
    )  # fmt: skip
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "line_items[0][quantity]"


def test_refund_more_than_charged(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id)
    pi = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 501})
    assert info.value.param == "amount"
    stripe_client.v1.refunds.create(params={"payment_intent": pi})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi})
    assert info.value.code == "charge_already_refunded"
