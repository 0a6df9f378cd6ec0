"""Creating a donation while Stripe misbehaves: every path ends with one donation and one session.

The donation row is committed before Stripe is called and the Checkout Session is requested with
a key derived from the donation id, so whatever goes wrong, a retry (the donor's, stripe-python's
or the sweeper's) gets the session Stripe already made instead of a second one.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import select

from service import extensions
from service.donations import ensure_checkout_session
from service.donations.models import Donation, DonationStatus
from service.stripe_gateway import StripeGateway

from ..service.helpers import VALID, donation_count, load_donation, session_creates

SESSIONS = "/v1/checkout/sessions"


def sessions_in_sandbox(sandbox: Any) -> set[str]:
    """Ids of the Checkout Sessions the sandbox actually holds (not just requests it received)."""
    return {obj["id"] for obj in sandbox.state.store.newest_first("checkout.session")}


def only_donation(app: Any) -> Donation:
    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            donations = session.scalars(select(Donation)).all()
            assert len(donations) == 1, donations
            session.expunge(donations[0])
            return donations[0]
        finally:
            session.close()


def test_stripe_500s_then_success_makes_one_session(make_app: Any, sandbox: Any) -> None:
    app = make_app(stripe_max_retries=2, stripe_timeout_seconds=2.0)
    sandbox.control.fail_next(2, path_prefix=SESSIONS, status=500)
    response = app.test_client().post("/api/v1/donations", json=VALID)
    assert response.status_code == 201, response.get_json()
    assert len(session_creates(sandbox)) == 3  # two failures, then stripe-python's retry succeeded
    assert len({c["idempotency_key"] for c in session_creates(sandbox)}) == 1
    assert sessions_in_sandbox(sandbox) == {only_donation(app).stripe_checkout_session_id}
    assert donation_count(app) == 1


def test_stripe_500s_past_the_retries_is_a_503_and_the_retry_finishes_the_same_donation(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_max_retries=0)
    client = app.test_client()
    sandbox.control.fail_next(1, path_prefix=SESSIONS, status=500)
    first = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "try-500"})
    assert first.status_code == 503
    assert first.get_json()["error"]["code"] == "payment_provider_unavailable"
    assert first.headers["Retry-After"]
    assert only_donation(app).status == DonationStatus.CHECKOUT_ERROR
    second = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "try-500"})
    assert second.status_code == 201
    assert donation_count(app) == 1
    assert len(sessions_in_sandbox(sandbox)) == 1


def test_a_stripe_429_is_retried_within_the_surge_wait_and_makes_one_session(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_max_retries=0, surge_wait_seconds=2.0)
    sandbox.control.fail_next(1, path_prefix=SESSIONS, status=429)
    response = app.test_client().post("/api/v1/donations", json=VALID)
    assert response.status_code == 201
    assert sessions_in_sandbox(sandbox) == {only_donation(app).stripe_checkout_session_id}


def test_stripe_429_past_the_wait_without_a_payment_link_is_a_503_with_retry_after(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_max_retries=0, surge_wait_seconds=0.0)
    sandbox.control.fail_next(20, path_prefix=SESSIONS, status=429)
    response = app.test_client().post("/api/v1/donations", json=VALID)
    assert response.status_code == 503
    body = response.get_json()["error"]
    assert body["code"] == "payment_provider_unavailable"
    assert int(response.headers["Retry-After"]) == body["retry_after"] > 0
    donation = only_donation(app)
    assert donation.status == DonationStatus.CHECKOUT_ERROR and donation.stripe_checkout_session_id is None
    assert sessions_in_sandbox(sandbox) == set()


def test_stripe_hanging_past_the_timeout_answers_in_time_and_a_retry_gets_the_same_session(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_timeout_seconds=0.5, stripe_max_retries=0)
    client = app.test_client()
    sandbox.control.hang_next(1, path_prefix=SESSIONS, seconds=2.0)
    first = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "slow"})
    # Our 0.5 s timeout, not Stripe's pace, bounds the donor's wait: the answer came while Stripe
    # was still working on its 2 s hang (told by order, not by a sub-second wall-clock bound).
    assert first.status_code == 503
    assert sessions_in_sandbox(sandbox) == set()
    # Stripe carries on after our timeout and creates the session; wait until it has.
    deadline = time.monotonic() + 5
    while not sessions_in_sandbox(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    made = sessions_in_sandbox(sandbox)
    assert len(made) == 1
    second = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "slow"})
    assert second.status_code == 201
    assert {only_donation(app).stripe_checkout_session_id} == made == sessions_in_sandbox(sandbox)


def test_response_lost_after_stripe_created_the_session_is_recovered_by_stripe_pythons_retry(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_max_retries=1)
    sandbox.control.lose_next_response(1, path_prefix=SESSIONS)
    response = app.test_client().post("/api/v1/donations", json=VALID)
    assert response.status_code == 201
    assert sessions_in_sandbox(sandbox) == {only_donation(app).stripe_checkout_session_id}


def test_response_lost_without_retries_then_a_later_attempt_gets_the_same_session(
    make_app: Any, sandbox: Any
) -> None:
    app = make_app(stripe_max_retries=0)
    client = app.test_client()
    sandbox.control.lose_next_response(1, path_prefix=SESSIONS)
    first = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "lost"})
    assert first.status_code == 503
    made = sessions_in_sandbox(sandbox)
    assert len(made) == 1  # Stripe did the work; only the answer was lost
    second = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "lost"})
    assert second.status_code == 201
    assert {only_donation(app).stripe_checkout_session_id} == made == sessions_in_sandbox(sandbox)
    assert donation_count(app) == 1


def test_same_donation_form_submitted_twenty_times_concurrently_makes_one_donation(
    app: Any, sandbox: Any
) -> None:
    sandbox.control.configure(latency_ms=150)  # keep the first request in flight while others arrive
    form = {
        "form_token": "concurrent-form-token-0001",
        "currency": "gbp",
        "frequency": "one_off",
        "amount_choice": "2500",
    }

    def submit(_: int) -> Any:
        with app.test_client() as c:
            return c.post("/donate/red-cross-ukraine", data=form)

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(submit, range(20)))
    finally:
        sandbox.control.configure(latency_ms=0)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {303, 409}, statuses
    locations = {r.headers["Location"] for r in responses if r.status_code == 303}
    assert len(locations) == 1
    assert donation_count(app) == 1
    assert len(sessions_in_sandbox(sandbox)) == 1


def test_worker_killed_between_the_stripe_call_and_the_commit_leaves_one_session(
    app: Any, gunicorn: Any, sandbox: Any, settings: Any
) -> None:
    server = gunicorn(GUNICORN_WORKER_CLASS="sync", STRIPE_MAX_RETRIES="0")
    [worker] = server.wait_for_workers(1)
    sandbox.control.hang_next(1, path_prefix=SESSIONS)  # until released
    outcome: dict[str, Any] = {}

    def donate() -> None:
        try:
            outcome["response"] = requests.post(f"{server.base_url}/api/v1/donations", json=VALID, timeout=15)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=donate)
    thread.start()
    deadline = time.monotonic() + 10
    while not session_creates(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_creates(sandbox), "the worker never called Stripe"
    import os
    import signal

    os.kill(worker, signal.SIGKILL)  # the worker dies while Stripe is working on the session
    thread.join(timeout=15)
    assert "error" in outcome or outcome["response"].status_code >= 500
    sandbox.control.release_hangs()
    deadline = time.monotonic() + 5
    while not sessions_in_sandbox(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sessions_in_sandbox(sandbox)) == 1  # Stripe made it; nobody recorded it

    stranded = only_donation(app)
    assert stranded.status == DonationStatus.CREATED and stranded.stripe_checkout_session_id is None
    # What the sweeper does for a stranded row: ask again with the same derived key.
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            donation = db.get(Donation, stranded.id)
            finished = ensure_checkout_session(
                db, StripeGateway.from_settings(settings), settings, donation, in_progress_wait=0
            )
        finally:
            db.close()
    assert finished.status == DonationStatus.PENDING
    assert {finished.stripe_checkout_session_id} == sessions_in_sandbox(sandbox)
    assert len({c["idempotency_key"] for c in session_creates(sandbox)}) == 1
    assert load_donation(app, stranded.id).stripe_checkout_session_id == finished.stripe_checkout_session_id
