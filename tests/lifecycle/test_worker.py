"""The real job worker (huey_consumer) on PostgreSQL and Redis, killed in the middle of a send."""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from service import extensions
from service.models import utcnow
from service.outbox import MessageStatus, OutboxMessage
from tests.support.servers import serving_webhooks
from tests.support.worker import REDIS_URL, start_worker, stop, wait_for


@pytest.fixture
def worker_app(app: Any, make_app: Any, smtp: Any, database_backend: str) -> Iterator[Any]:
    if database_backend != "postgresql":
        pytest.skip("the worker test runs on PostgreSQL with Redis, as in production")
    built = make_app(
        mail_url=smtp.url,
        redis_url=REDIS_URL,
        jobs_in_process=False,
        # A queue of its own: parallel runs sharing this Redis never take each other's jobs.
        deployment_id=f"test-worker-{secrets.token_hex(4)}",
    )
    yield built
    from service.jobs import huey, init_jobs

    huey.storage.flush_all()
    init_jobs(app, extensions.settings(app))  # back to in-process jobs for the other tests


def row_of(app: Any) -> OutboxMessage:
    with extensions.database(app).sessionmaker() as db:
        (row,) = db.scalars(select(OutboxMessage))
        return row


def test_worker_killed_mid_send_delivers_the_receipt_exactly_once(worker_app, sandbox, smtp):
    from service.donations import DonationRequest, create_donation
    from service.jobs import deliver_due

    smtp.mailbox.mode = "hold"  # the server sits on the RCPT command until the worker is dead
    first = start_worker(worker_app, "first")
    try:
        with serving_webhooks(worker_app, sandbox), worker_app.app_context():
            db = extensions.database(worker_app).sessionmaker()
            request = DonationRequest(appeal="red-cross-ukraine", amount=2500, currency="gbp",
                                      frequency="one_off", email="donor@example.org")  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(worker_app), extensions.settings(worker_app), request
            )
            db.close()
            sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
            assert sandbox.control.wait_for_webhooks(timeout=20)
        assert smtp.mailbox.held.wait(30), "the worker never reached the SMTP server"
        assert row_of(worker_app).status == MessageStatus.SENDING
    finally:
        stop(first, signal.SIGKILL)
    smtp.mailbox.release.set()
    time.sleep(0.3)
    assert smtp.mailbox.messages == []
    # The dead worker's lease runs out (two minutes; moved on here rather than waited for).
    with extensions.database(worker_app).sessionmaker() as db:
        db.execute(update(OutboxMessage).values(locked_until=utcnow()))
        db.commit()
    smtp.mailbox.mode = "accept"
    second = start_worker(worker_app, "second")
    try:
        deliver_due()  # what the scheduler enqueues every minute, handed to the new worker now
        deliver_due()  # and a second time: the message is already sent
        wait_for(lambda: row_of(worker_app).status == MessageStatus.SENT, timeout=30)
        time.sleep(1)
    finally:
        stop(second)
    (message,) = smtp.mailbox.messages
    assert message["To"] == "donor@example.org"
    row = row_of(worker_app)
    assert (row.attempts, row.transport) == (2, "smtp")
