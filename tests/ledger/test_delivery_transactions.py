"""What is stored, and when, as a delivery is stored and applied (docs/webhooks.md, "What the endpoint answers").

A delivery is committed as `received` before anything is applied; the apply job (here run
in-process: Huey's immediate mode, as in the demo) claims it, applies it and records the outcome in
one transaction. These tests pin that nothing half-done survives a failure in it, that the event
is stored even when the database goes away while applying, and that an event that needs Stripe
is committed before Stripe is asked. With a real worker: tests/ledger/test_worker_apply.py.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from service import extensions
from service.donations.models import DonationStatus
from service.ledger import apply_checkout, payments
from service.ledger.receiving import receive
from service.models import WebhookEvent

from . import payloads


def completed(donation: Any) -> dict:
    return payloads.event("checkout.session.completed", payloads.session(donation))


def test_first_delivery_is_stored_applied_and_linked_with_one_attempt(client, ledger, make_donation):
    donation = make_donation()
    evt = completed(donation)
    response = payloads.post(client, evt)
    assert response.status_code == 200
    assert response.get_json() == {
        "received": True,
        "event": evt["id"],
        "outcome": "processed",
        "duplicate": False,
    }
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.delivery_count, stored.process_attempts, stored.donation_id) == (
        "processed", 1, 1, donation.id,
    )  # fmt: skip
    assert stored.processed_at is not None
    assert json.loads(stored.payload) == evt
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_redelivery_of_an_applied_event_only_counts_it(client, ledger, make_donation):
    donation = make_donation()
    evt = completed(donation)
    payloads.post(client, evt)
    first = ledger.event(evt["id"])
    response = payloads.post(client, evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "processed"
    assert response.get_json()["duplicate"] is True
    again = ledger.event(evt["id"])
    assert again.delivery_count == 2
    assert again.last_received_at >= first.last_received_at
    assert (again.received_at, again.processed_at, again.process_attempts, again.outcome) == (
        first.received_at, first.processed_at, 1, "processed",
    )  # fmt: skip
    assert len(ledger.payments(donation.id)) == 1


def test_failure_after_a_partial_apply_keeps_the_event_as_failed_and_none_of_the_work(
    client, ledger, make_donation, monkeypatch
):
    donation = make_donation()
    evt = completed(donation)

    def broken(*args: Any, **kwargs: Any) -> bool:
        # By now the donation's UPDATE to paid has run in the same transaction.
        raise RuntimeError("bug")

    monkeypatch.setattr(payments, "upsert_payment", broken)
    response = payloads.post(client, evt)
    assert response.status_code == 500
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.outcome_reason, stored.delivery_count) == (
        "failed",
        "error: RuntimeError",
        1,
    )
    assert ledger.donation(donation.id).status == DonationStatus.PENDING
    assert ledger.donation(donation.id).stripe_payment_intent_id is None

    monkeypatch.undo()
    retried = payloads.post(client, evt)
    assert retried.get_json()["outcome"] == "processed"
    assert ledger.event(evt["id"]).delivery_count == 2
    assert ledger.donation(donation.id).status == DonationStatus.PAID
    assert len(ledger.payments(donation.id)) == 1


def test_database_lost_while_applying_keeps_the_event_received_and_a_redelivery_applies_it(
    make_app, ledger, make_donation, monkeypatch
):
    donation = make_donation()
    evt = completed(donation)
    own = make_app()
    database = extensions.database(own)
    dead = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/x"
        if database.engine.dialect.name == "postgresql"
        else "sqlite:////nonexistent-directory/ledger.sqlite3"
    )
    real_record_session = apply_checkout.record_session

    def database_goes_away(db: Any, *args: Any, **kwargs: Any) -> Any:
        # Mid-apply: the event row is committed, the claim is not; then the server is gone.
        database.sessionmaker.configure(bind=dead)
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(apply_checkout, "record_session", database_goes_away)
    response = payloads.post(own.test_client(), evt)
    # The outcome could not be read back: Stripe is told to retry (and apply_due would find it).
    assert response.status_code == 503
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.delivery_count, stored.process_attempts) == ("received", 1, 0)
    assert ledger.donation(donation.id).status == DonationStatus.PENDING

    # The database is back; Stripe delivers again.
    monkeypatch.setattr(apply_checkout, "record_session", real_record_session)
    database.sessionmaker.configure(bind=database.engine)
    response = payloads.post(own.test_client(), evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "processed"
    assert response.get_json()["duplicate"] is True
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.delivery_count, stored.process_attempts) == ("processed", 2, 1)
    assert ledger.donation(donation.id).status == DonationStatus.PAID
    assert len(ledger.payments(donation.id)) == 1
    database.engine.dispose()
    dead.dispose()


class StoredFirstGateway:
    """Answers a payout's balance transactions, checking first that the event is already committed."""

    def __init__(self, app: Any):
        self.app = app
        self.calls: list[str] = []

    def payout_balance_transactions(self, payout_id: str) -> list[dict]:
        self.calls.append(payout_id)
        with extensions.database(self.app).sessionmaker() as db:
            # Another connection sees the row, and (PostgreSQL) could lock it at once: nothing
            # of this delivery holds a lock while Stripe is asked.
            outcome = db.scalar(
                select(WebhookEvent.outcome)
                .where(WebhookEvent.object_id == payout_id)
                .with_for_update(nowait=True)
            )
            db.rollback()
        assert outcome == "received"
        return []


@pytest.mark.parametrize("deliveries", [1, 3])
def test_event_that_needs_stripe_is_committed_before_stripe_is_asked_and_asked_once(app, ledger, deliveries):
    evt = payloads.event("payout.paid", payloads.template("payout", id="po_stored_first", amount=10_000,
                                                          currency="gbp", status="paid", arrival_date=1_790_000_000))  # fmt: skip
    gateway = StoredFirstGateway(app)
    extensions.set_stripe_gateway(app, gateway)  # the job asks it; the fixture puts the real one back
    sessions, settings = extensions.database(app).sessionmaker, extensions.settings(app)
    with app.app_context():
        outcomes = [receive(sessions, settings, payloads.body(evt)) for _ in range(deliveries)]
    assert outcomes[0].outcome == "processed"
    assert all(o.duplicate_delivery for o in outcomes[1:])
    assert gateway.calls == ["po_stored_first"]
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.delivery_count, stored.process_attempts) == ("processed", deliveries, 1)
