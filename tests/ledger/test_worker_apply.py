"""Store and acknowledge, apply on the job queue: the endpoint with a real Redis queue and the real
worker (``huey_consumer``), as in production (docs/webhooks.md, "What the endpoint answers").

The endpoint answers once the event row is committed as ``received`` and its id handed to the
queue; the worker applies it. A lost hand-over and a failing apply are caught by
``flask webhooks apply-due`` (the worker's every-minute job), which retries with back-off and then
leaves the event for an operator.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from huey.storage import RedisStorage
from sqlalchemy import update

from service import extensions
from service.donations.models import DonationStatus
from service.ledger import dispatch
from service.ledger.receiving import MAX_APPLY_ATTEMPTS, retry_delay
from service.models import WebhookEvent
from tests.support.worker import REDIS_URL, start_worker, stop, wait_for

from . import payloads


@pytest.fixture
def queued_app(app: Any, make_app: Any) -> Iterator[Any]:
    """The app with jobs on a Redis queue of its own (parallel runs never take each other's jobs)."""
    deployment = f"test-apply-{secrets.token_hex(4)}"
    built = make_app(redis_url=REDIS_URL, jobs_in_process=False, deployment_id=deployment)
    yield built
    from service.jobs import huey, init_jobs

    huey.storage.flush_all()
    init_jobs(app, extensions.settings(app))  # back to in-process jobs for the other tests


@pytest.fixture
def postgresql_only(database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("the worker runs on PostgreSQL with Redis, as in production")


def ours(app: Any, donation: Any) -> dict:
    """The metadata Checkout would carry for ``donation`` made by ``app``'s deployment."""
    return payloads.metadata(donation, deployment=extensions.settings(app).deployment_id)


def completed(app: Any, donation: Any) -> dict:
    return payloads.event(
        "checkout.session.completed", payloads.session(donation, metadata=ours(app, donation))
    )


def metric(client: Any, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def queued() -> int:
    from service.jobs import huey

    return huey.pending_count()


def test_the_endpoint_stores_and_answers_then_the_worker_applies_in_order(
    postgresql_only, queued_app, make_donation, ledger
):
    client = queued_app.test_client()
    first, second = make_donation(), make_donation()
    paid_first = completed(queued_app, first)
    # A refund delivered before its payment, on a charge naming no donation (as a Payment Link's
    # does): it waits for the payment, and is applied once the session has recorded it.
    refund = payloads.event("charge.refunded", payloads.charge(second, amount_refunded=500, metadata={}))
    paid_second = completed(queued_app, second)
    for evt in (refund, paid_second, paid_first):
        response = payloads.post(client, evt)
        assert response.status_code == 200
        assert response.get_json() == {"received": True, "event": evt["id"], "outcome": "received",
                                       "duplicate": False}  # fmt: skip
    # Stored, acknowledged, not applied: the web process did no ledger work.
    assert [e.outcome for e in ledger.events()] == ["received"] * 3
    assert ledger.donation(first.id).status == ledger.donation(second.id).status == DonationStatus.PENDING
    assert ledger.payments() == []
    assert metric(client, "donation_router_webhook_backlog_events") == 3
    assert metric(client, "donation_router_webhook_backlog_oldest_seconds") >= 0
    # Stripe redelivers one that is stored but not applied yet: handed over again.
    again = payloads.post(client, paid_first)
    assert (again.status_code, again.get_json()["outcome"], again.get_json()["duplicate"]) == (
        200,
        "received",
        True,
    )
    assert queued() == 4

    worker = start_worker(queued_app, "apply")
    try:
        wait_for(lambda: {e.outcome for e in ledger.events()} == {"processed"} and queued() == 0, timeout=60)
    finally:
        stop(worker)
    assert ledger.donation(first.id).status == DonationStatus.PAID
    assert ledger.donation(second.id).status == DonationStatus.PARTIALLY_REFUNDED
    assert [len(ledger.payments(d.id)) for d in (first, second)] == [1, 1]
    # Two jobs for one event, one claim: applied once.
    stored = ledger.event(paid_first["id"])
    assert (stored.delivery_count, stored.process_attempts) == (2, 1)
    assert metric(client, "donation_router_webhook_backlog_events") == 0
    # A redelivery of an applied event is answered from its stored outcome and queues nothing.
    late = payloads.post(client, paid_first)
    assert (late.get_json()["outcome"], late.get_json()["duplicate"]) == ("processed", True)
    assert queued() == 0


def test_concurrent_duplicates_are_stored_once_and_applied_once(
    postgresql_only, queued_app, make_donation, ledger
):
    donation = make_donation()
    evt = completed(queued_app, donation)
    count = 20
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def deliver() -> None:
        barrier.wait()
        statuses.append(payloads.post(queued_app.test_client(), evt).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * count
    assert ledger.event(evt["id"]).delivery_count == count
    worker = start_worker(queued_app, "duplicates", threads=2)
    try:
        wait_for(lambda: ledger.event(evt["id"]).outcome == "processed" and queued() == 0, timeout=60)
    finally:
        stop(worker)
    assert ledger.event(evt["id"]).process_attempts == 1
    assert len(ledger.payments(donation.id)) == 1
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def _age(app: Any, stripe_event_id: str, **delta: timedelta) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        row = db.query(WebhookEvent).filter_by(stripe_event_id=stripe_event_id).one()
        db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.stripe_event_id == stripe_event_id)
            .values(**{column: getattr(row, column) - by for column, by in delta.items()})
        )


def test_a_lost_hand_over_is_applied_by_the_sweep(queued_app, make_donation, ledger, caplog):
    from service.jobs import huey

    donation = make_donation()
    evt = completed(queued_app, donation)
    # Redis is unreachable as the event is handed over: the delivery is still stored and answered.
    reachable = huey.storage
    huey.storage = RedisStorage(reachable.name, url="redis://127.0.0.1:1/0")
    try:
        response = payloads.post(queued_app.test_client(), evt)
    finally:
        huey.storage = reachable
    assert (response.status_code, response.get_json()["outcome"]) == (200, "received")
    assert "webhook_hand_over_failed" in [r.getMessage() for r in caplog.records]
    runner = queued_app.test_cli_runner()
    # Within the grace the sweep leaves it to the queue.
    assert "Applied 0 events" in runner.invoke(args=["webhooks", "apply-due"]).output
    assert ledger.event(evt["id"]).outcome == "received"
    _age(queued_app, evt["id"], received_at=timedelta(minutes=3))
    result = runner.invoke(args=["webhooks", "apply-due"])
    assert result.exit_code == 0, result.output
    assert "Applied 1 events left received" in result.output and "processed 1" in result.output
    assert ledger.event(evt["id"]).outcome == "processed"
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_a_failing_event_is_retried_with_back_off_then_left_for_review(
    client, runner, make_donation, ledger, monkeypatch
):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation))
    monkeypatch.setitem(dispatch.HANDLERS, "checkout.session.completed", lambda ctx, event: 1 / 0)
    # Immediate mode (no worker, no scheduler): the failure is known now, so Stripe retries too.
    assert payloads.post(client, evt).status_code == 500
    assert ledger.event(evt["id"]).process_attempts == 1
    runner.invoke(args=["webhooks", "apply-due"])  # not due yet: the first retry is a minute on
    assert ledger.event(evt["id"]).process_attempts == 1
    for attempts in range(1, MAX_APPLY_ATTEMPTS):
        _age(client.application, evt["id"], processed_at=retry_delay(attempts) + timedelta(seconds=1))
        result = runner.invoke(args=["webhooks", "apply-due"])
        assert "retried 1 failed" in result.output, result.output
        stored = ledger.event(evt["id"])
        assert (stored.outcome, stored.process_attempts, stored.needs_review) == (
            "failed",
            attempts + 1,
            False,
        )
    # Out of attempts: flagged for an operator, and no longer retried.
    result = runner.invoke(args=["webhooks", "apply-due"])
    assert f"{evt['id']}: failed {MAX_APPLY_ATTEMPTS} times; left for review" in result.output
    assert metric(client, 'donation_router_webhook_failed_events{state="given_up"}') == 1
    monkeypatch.undo()
    _age(client.application, evt["id"], processed_at=timedelta(days=1))
    assert "retried 0 failed" in runner.invoke(args=["webhooks", "apply-due"]).output
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.process_attempts, stored.needs_review) == (
        "failed",
        MAX_APPLY_ATTEMPTS,
        True,
    )
    assert ledger.donation(donation.id).status == DonationStatus.PENDING
    # The operator fixes the cause and replays it.
    assert f"{evt['id']}: processed" in runner.invoke(args=["webhooks", "replay", "--failed"]).output
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.needs_review) == ("processed", False)
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_a_redelivery_of_a_failed_event_is_queued_again_and_answered_2xx(
    queued_app, make_donation, ledger, monkeypatch
):
    donation = make_donation()
    evt = completed(queued_app, donation)
    client = queued_app.test_client()
    assert payloads.post(client, evt).get_json()["outcome"] == "received"
    # The worker's attempt failed (run here in-process as the job would run it).
    from service.jobs import apply_event

    monkeypatch.setitem(dispatch.HANDLERS, "checkout.session.completed", lambda ctx, event: 1 / 0)
    with queued_app.app_context():
        assert apply_event.call_local(evt["id"]) == "failed"
    monkeypatch.undo()
    before = queued()
    response = payloads.post(client, evt)
    # With a worker the retry is ours, not Stripe's: 200, and the event is queued again.
    assert (response.status_code, response.get_json()["outcome"]) == (200, "failed")
    assert queued() == before + 1
    assert ledger.event(evt["id"]).delivery_count == 2
