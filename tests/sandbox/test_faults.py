"""Load and fault switches: latency, rate limit, injected errors, hangs, lost responses."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import stripe


def test_latency_is_added_to_api_calls(stripe_client, sandbox, monkeypatch):
    sandbox.control.configure(latency_ms=150)
    latency = sandbox.state.faults.sleep_latency
    slowed = []
    monkeypatch.setattr(
        sandbox.state.faults, "sleep_latency", lambda **kw: slowed.append(kw) or latency(**kw)
    )
    started = time.perf_counter()
    stripe_client.v1.charges.list()
    assert time.perf_counter() - started >= 0.15
    assert len(slowed) == 1
    sandbox.control.health()  # controls are not slowed down (counted, not timed: no flake)
    assert len(slowed) == 1


def test_rate_limit_answers_stripes_429(stripe_client, sandbox):
    sandbox.control.configure(rate_limit=3)
    outcomes = []
    for _ in range(5):
        try:
            stripe_client.v1.charges.list()
            outcomes.append(200)
        except stripe.RateLimitError as exc:
            outcomes.append(exc)
    assert outcomes[:3] == [200, 200, 200]
    limited = outcomes[3]
    assert isinstance(limited, stripe.RateLimitError)
    assert limited.http_status == 429
    assert limited.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    error = limited.json_body["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert error["message"].startswith("Request rate limit exceeded")
    sandbox.control.configure(rate_limit=0)


def test_fail_next_calls_with_path_prefix(stripe_client, sandbox, donation):
    sandbox.control.fail_next(2, path_prefix="/v1/checkout/sessions")
    stripe_client.v1.charges.list()  # other paths are unaffected
    for _ in range(2):
        with pytest.raises(stripe.APIError) as info:
            stripe_client.v1.checkout.sessions.create(params=donation())
        assert info.value.http_status == 500
        assert info.value.json_body["error"]["type"] == "api_error"
    stripe_client.v1.checkout.sessions.create(params=donation())
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_client_retries_recover_from_injected_500(sandbox, donation):
    client = stripe.StripeClient(
        "sk_test_retry", base_addresses={"api": sandbox.base_url}, max_network_retries=2
    )
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions")
    session = client.v1.checkout.sessions.create(params=donation())
    posts = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    assert len(posts) == 2 and posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id


def test_hang_for_seconds(stripe_client, sandbox):
    sandbox.control.hang_next(1, path_prefix="/v1/charges", seconds=0.3)
    started = time.perf_counter()
    stripe_client.v1.charges.list()
    assert time.perf_counter() - started >= 0.3


def test_hang_until_released(stripe_client, sandbox):
    sandbox.control.hang_next(1, path_prefix="/v1/charges")
    done = threading.Event()

    def call() -> None:
        stripe_client.v1.charges.list()
        done.set()

    threading.Thread(target=call, daemon=True).start()
    assert not done.wait(0.3)
    sandbox.control.release_hangs()
    assert done.wait(5)


def test_hang_makes_client_time_out(sandbox):
    sandbox.control.hang_next(1, path_prefix="/v1/charges", seconds=2)
    with pytest.raises(requests.Timeout):
        requests.get(f"{sandbox.base_url}/v1/charges", auth=("sk_test_t", ""), timeout=0.3)
    sandbox.control.release_hangs()


def test_lost_response_then_retry_with_same_key(stripe_client, sandbox, donation):
    """Stripe created the session but the response never arrived; a retry replays it."""
    sandbox.control.lose_next_response(1, path_prefix="/v1/checkout/sessions")
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "lost-1"})
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1  # it was created
    retried = stripe_client.v1.checkout.sessions.create(
        params=donation(), options={"idempotency_key": "lost-1"}
    )
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_lost_response_as_500(stripe_client, sandbox, donation):
    sandbox.control.lose_next_response(1, path_prefix="/v1/checkout/sessions", drop=False)
    with pytest.raises(stripe.APIError) as info:
        stripe_client.v1.checkout.sessions.create(params=donation())
    assert info.value.http_status == 500
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_faults_are_listed_and_cleared(sandbox):
    sandbox.control.fail_next(3, path_prefix="/v1/refunds")
    (fault,) = sandbox.control.faults()["data"]
    assert (fault["mode"], fault["remaining"], fault["path_prefix"]) == ("error", 3, "/v1/refunds")
    assert sandbox.control.clear_faults()["data"] == []


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, stripe.InvalidRequestError, "invalid_request_error"),
        (402, stripe.CardError, "card_error"),
        (429, stripe.RateLimitError, "invalid_request_error"),
        (503, stripe.APIError, "api_error"),
    ],
)
def test_injected_errors_are_shaped_for_their_status(
    stripe_client, sandbox, donation, status, error_class, error_type
):
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions", status=status)
    with pytest.raises(error_class) as info:
        stripe_client.v1.checkout.sessions.create(params=donation())
    assert info.value.http_status == status
    assert info.value.json_body["error"]["type"] == error_type


def test_latency_applies_to_errors_too(stripe_client, sandbox, donation):
    sandbox.control.configure(latency_ms=150)
    started = time.perf_counter()
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.create(params=donation(colour="red"))
    assert time.perf_counter() - started >= 0.15
