"""expires_at and idempotency keys: Stripe takes expires_at 30 min to 24 h after the *session's*
creation (the sandbox enforces it with no slack), and refuses an idempotency key reused with other
parameters. A retry long after the donation was created, or after a settings change, must get a
session rather than a permanent rejection."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from service import extensions
from service.donations import DonationRequest, create_donation
from service.donations.checkout import MAX_EXPIRY, MIN_EXPIRY, session_expires_at
from service.donations.models import Donation, DonationStatus
from service.errors import CheckoutUnavailable
from service.ledger.sweeper import sweep
from service.models import utcnow

SESSIONS = "/v1/checkout/sessions"


def _failed_donation(app, sandbox, make_donation) -> str:
    """A donation whose session request never got an answer (Stripe down)."""
    sandbox.control.fail_next(count=10, path_prefix=SESSIONS, status=500)
    with pytest.raises(CheckoutUnavailable):
        make_donation()
    sandbox.control.clear_faults()
    return _errored(app)


def _errored(app) -> str:
    with extensions.database(app).sessionmaker() as db:
        return db.scalar(select(Donation.id).where(Donation.status == DonationStatus.CHECKOUT_ERROR))


@pytest.fixture
def no_retries_app(make_app):
    """The service with stripe-python's own retries off, so a lost response reaches our code
    (with retries, stripe-python's retry gets Stripe's idempotent replay)."""
    return make_app(stripe_max_retries=0)


def _age(app, donation_id: str, by: timedelta) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Donation).where(Donation.id == donation_id).values(created_at=utcnow() - by))


def _sweep(app, settings=None):
    return sweep(
        extensions.database(app).sessionmaker,
        extensions.stripe_gateway(app),
        settings or extensions.settings(app),
    )


@pytest.mark.parametrize("age", [timedelta(minutes=50), timedelta(hours=3), timedelta(hours=30)])
def test_a_retry_long_after_the_donation_was_created_gets_a_session(app, sandbox, make_donation, ledger, age):
    donation_id = _failed_donation(app, sandbox, make_donation)
    _age(app, donation_id, age)
    assert _sweep(app)["session_created"] == 1
    stored = ledger.donation(donation_id)
    assert stored.status == DonationStatus.PENDING
    created = sandbox.control.requests(path=SESSIONS, method="POST")[-1]
    session = sandbox.state.store.get(stored.stripe_checkout_session_id)
    # Stripe's window, measured from the session's creation on Stripe's clock.
    assert 30 * 60 <= session["expires_at"] - session["created"] < 24 * 3600
    assert created["params"]["expires_at"] == str(session["expires_at"])


def test_a_settings_change_between_two_attempts_is_not_an_idempotency_error(no_retries_app, sandbox, ledger):
    app = no_retries_app
    # First attempt: Stripe makes the session and keeps it under the key; the answer is lost.
    sandbox.control.lose_next_response(count=1, path_prefix=SESSIONS)
    with app.app_context(), extensions.database(app).sessionmaker() as db:
        request = DonationRequest(
            appeal="red-cross-ukraine", amount=2500, currency="gbp", frequency="one_off"
        )
        with pytest.raises(CheckoutUnavailable):
            create_donation(db, extensions.stripe_gateway(app), extensions.settings(app), request)
    donation_id = _errored(app)
    first_keys = {r["idempotency_key"] for r in sandbox.control.requests(path=SESSIONS, method="POST")}
    # Then an operator lengthens the session; the sweeper retries two minutes later.
    changed = dataclasses.replace(extensions.settings(app), checkout_session_minutes=90)
    _age(app, donation_id, timedelta(minutes=2))
    report = _sweep(app, changed)
    assert report["session_created"] == 1, report
    stored = ledger.donation(donation_id)
    assert (stored.status, stored.last_error_code) == (DonationStatus.PENDING, None)
    keys = [r["idempotency_key"] for r in sandbox.control.requests(path=SESSIONS, method="POST")]
    # Other parameters, another key: Stripe would refuse the first key with an idempotency_error.
    assert keys[-1] not in first_keys and keys[-1].startswith(f"donation-{donation_id}-checkout-")


def test_the_same_parameters_moments_later_reuse_the_key_and_stripe_replays():
    created = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    first = session_expires_at(created, created + timedelta(seconds=1), 60)
    assert (
        first
        == session_expires_at(created, created + timedelta(minutes=5), 60)
        == created + timedelta(hours=1)
    )


@pytest.mark.parametrize("minutes", [30, 45, 60, 600, 1440])
@pytest.mark.parametrize("elapsed_minutes", [0, 1, 29, 31, 59, 61, 180, 1439, 1441, 3000])
def test_expires_at_is_always_inside_stripes_window_from_the_call(minutes, elapsed_minutes):
    created = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    now = created + timedelta(minutes=elapsed_minutes)
    lead = session_expires_at(created, now, minutes) - now
    assert MIN_EXPIRY <= lead <= MAX_EXPIRY
    assert timedelta(minutes=30) < lead < timedelta(hours=24)
