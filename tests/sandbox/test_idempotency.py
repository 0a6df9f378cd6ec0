"""Idempotency-Key: replay, mismatch errors, scoping and concurrent requests."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import requests
import stripe

from sandbox.api import _fingerprint


def test_same_key_same_params_replays_first_response(stripe_client, sandbox, donation):
    first = stripe_client.v1.checkout.sessions.create(
        params=donation(), options={"idempotency_key": "donation-42"}
    )
    again = stripe_client.v1.checkout.sessions.create(
        params=donation(), options={"idempotency_key": "donation-42"}
    )
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.request_id != first.last_response.request_id
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_replay_keeps_status_of_stored_error(sandbox, donation):
    """A card error after execution started is stored and replayed, status included."""
    url = f"{sandbox.base_url}/v1/refunds"
    headers = {"Authorization": "Bearer sk_test_k", "Idempotency-Key": "refund-1"}
    first = requests.post(url, data={"charge": "ch_missing"}, headers=headers, timeout=5)
    second = requests.post(url, data={"charge": "ch_missing"}, headers=headers, timeout=5)
    assert first.status_code == second.status_code == 404
    # Validation-stage failures are not stored, so nothing is replayed here.
    assert "Idempotent-Replayed" not in second.headers


def test_same_key_different_params_is_idempotency_error(stripe_client, donation):
    stripe_client.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "k2"})
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.checkout.sessions.create(
            params=donation(client_reference_id="other"), options={"idempotency_key": "k2"}
        )
    body = info.value.json_body["error"]
    assert info.value.http_status == 400
    assert body["type"] == "idempotency_error"
    assert body["message"].startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with"
    )


def test_same_key_other_endpoint_is_rejected(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "k3"})
    with pytest.raises(stripe.IdempotencyError, match="same endpoint"):
        stripe_client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": "k3"})


def test_keys_are_scoped_per_api_key(sandbox, donation):
    a = stripe.StripeClient("sk_test_account_a", base_addresses={"api": sandbox.base_url})
    b = stripe.StripeClient("sk_test_account_b", base_addresses={"api": sandbox.base_url})
    first = a.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "same"})
    other = b.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "same"})
    assert first.id != other.id


def test_concurrent_requests_with_one_key_create_one_object(stripe_client, sandbox, donation):
    sandbox.control.configure(latency_ms=300)
    results: list[object] = []

    def create() -> None:
        try:
            results.append(
                stripe_client.v1.checkout.sessions.create(
                    params=donation(), options={"idempotency_key": "double-click"}
                ).id
            )
        except stripe.StripeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sandbox.control.configure(latency_ms=0)
    ids = {r for r in results if isinstance(r, str)}
    conflicts = [r for r in results if isinstance(r, stripe.StripeError)]
    assert len(ids) == 1
    # stripe-python maps 409 to a plain APIError and drops the code: read the body.
    assert all(e.http_status == 409 for e in conflicts)
    assert all(e.json_body["error"]["code"] == "idempotency_key_in_use" for e in conflicts)
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_stripe_python_sends_a_key_on_every_post(stripe_client, sandbox, donation):
    stripe_client.v1.checkout.sessions.create(params=donation())
    (recorded,) = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    assert recorded["idempotency_key"]  # stripe-python generates a UUID when none is given


def test_replay_returns_the_original_response_not_current_state(stripe_client, sandbox, donation):
    first = stripe_client.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "k9"})
    sandbox.control.complete_session(first.id)
    replay = stripe_client.v1.checkout.sessions.create(params=donation(), options={"idempotency_key": "k9"})
    assert (replay.id, replay.status) == (first.id, "open")  # as first answered


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"b": "2", "a": "1", "metadata": {"z": "", "a": 'é £ \u2028 "q" \\'}},
        {"line_items": [{"price_data": {"unit_amount": "2500", "currency": "gbp"}, "quantity": "1"}]},
        {"amount": 1000, "ratio": 0.1, "big": 10**30, "on": True, "off": False, "none": None},
        {"nan": float("nan"), "inf": float("inf"), "neg": float("-inf"), "zero": -0.0},
        {"nested": {"empty_list": [], "empty_dict": {}, "mixed": [1, "1", 1.0, [{"x": None}]]}},
    ],
)
def test_fingerprint_is_the_sha256_of_the_sorted_json(raw):
    """The fingerprint kept with each key (and in state files) is unchanged by its quicker encoder."""
    expected = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    assert _fingerprint(raw) == expected
    assert _fingerprint(dict(reversed(raw.items()))) == expected  # key order never counts
