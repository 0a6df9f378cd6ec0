"""When Stripe fails, the donor gets an answer they can act on and nothing is left half-done."""

from __future__ import annotations

import time
from typing import Any

from service import extensions

from .helpers import VALID, donation_count, load_donation, session_creates

SESSIONS = "/v1/checkout/sessions"


def create(client: Any, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/donations", json=VALID, headers=headers)


def only_donation_id(app: Any) -> str:
    from sqlalchemy import select

    from service.donations.models import Donation

    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            return session.scalars(select(Donation.id)).one()
        finally:
            session.close()


def test_a_transient_500_is_retried_with_the_same_key(client: Any, sandbox: Any) -> None:
    sandbox.control.fail_next(count=1, path_prefix=SESSIONS)
    response = create(client)
    assert response.status_code == 201
    keys = {call["idempotency_key"] for call in session_creates(sandbox)}
    assert len(keys) == 1 and keys.pop().startswith(f"donation-{response.get_json()['id']}-checkout-")


def test_stripe_down_answers_503_with_retry_after_and_records_the_reason(
    client: Any, app: Any, sandbox: Any
) -> None:
    sandbox.control.fail_next(count=10, path_prefix=SESSIONS)
    response = create(client, key="k-down")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    error = response.get_json()["error"]
    assert error["code"] == "payment_provider_unavailable"
    assert "not been charged" in error["message"]
    donation = load_donation(app, only_donation_id(app))
    assert donation.status == "checkout_error"
    assert donation.last_error_message == "Our payment provider had a problem."
    assert donation.checkout_attempts == 1

    sandbox.control.clear_faults()
    retried = create(client, key="k-down")
    assert retried.status_code == 201
    assert retried.get_json()["id"] == donation.id
    assert donation_count(app) == 1


def test_rate_limited_by_stripe_answers_503_rate_hint(client: Any, app: Any, sandbox: Any) -> None:
    sandbox.control.fail_next(count=10, path_prefix=SESSIONS, status=429)
    response = create(client)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert load_donation(app, only_donation_id(app)).status == "checkout_error"


def test_stripe_refusing_the_request_answers_502(client: Any, app: Any, sandbox: Any) -> None:
    sandbox.control.fail_next(count=5, path_prefix=SESSIONS, status=400)
    response = create(client)
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "payment_setup_failed"
    assert "Retry-After" not in response.headers
    assert load_donation(app, only_donation_id(app)).status == "checkout_error"


def test_a_hanging_stripe_times_out_within_the_configured_budget(client: Any, app: Any, sandbox: Any) -> None:
    sandbox.control.hang_next(count=10, path_prefix=SESSIONS, seconds=30)
    started = time.monotonic()
    try:
        response = create(client)
    finally:
        sandbox.control.release_hangs()
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    # settings: 2 s timeout, 1 retry: two attempts plus stripe-python's short back-off.
    assert elapsed < 8, elapsed
    assert load_donation(app, only_donation_id(app)).status == "checkout_error"


def test_a_lost_response_is_recovered_without_a_second_session(client: Any, app: Any, sandbox: Any) -> None:
    # Stripe creates the session but the answer never arrives; stripe-python retries with the
    # same idempotency key and Stripe replays the session it already made.
    sandbox.control.lose_next_response(count=1, path_prefix=SESSIONS)
    response = create(client)
    assert response.status_code == 201
    sessions = sandbox.control.requests(path=SESSIONS, method="POST")
    assert len(sessions) == 2
    from stripe import StripeClient

    stripe = StripeClient("sk_test_x", base_addresses={"api": sandbox.base_url})
    made = [
        s
        for s in stripe.v1.checkout.sessions.list({"limit": 100}).data
        if s.client_reference_id == response.get_json()["id"]
    ]
    assert len(made) == 1
    assert load_donation(app, response.get_json()["id"]).stripe_checkout_session_id == made[0].id
