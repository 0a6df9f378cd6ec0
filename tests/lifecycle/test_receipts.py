"""Receipts: one per paid gift, queued with the ledger change, sent over real SMTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service import extensions
from service.email_delivery import deliver
from service.outbox import MessageStatus, OutboxMessage
from tests.support.gifts import pay
from tests.support.ledger import delivered


def outbox_rows(app: Any) -> list[OutboxMessage]:
    with extensions.database(app).sessionmaker() as db:
        return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def test_paid_gift_queues_one_receipt_kept_locally_without_mail_url(live_server, sandbox, make_donation, app):
    sandbox.control.configure_webhooks(duplicate=True)
    donation = make_donation(amount=2500, currency="gbp")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    (row,) = outbox_rows(app)
    assert row.kind == "receipt" and row.donation_id == donation.id
    assert row.id.startswith("receipt:pi_")
    # In-process jobs (no worker, no MAIL_URL): kept in the development mailbox at once.
    assert (row.status, row.transport, row.attempts) == (MessageStatus.SENT, "local", 1)
    page = app.test_client().get(f"/dev/mail/{row.id}")
    assert page.status_code == 200
    assert "Your receipt: £25 to Red Cross" in page.get_data(as_text=True)


def test_receipt_over_smtp_once_though_every_event_is_delivered_twice(mail_app, sandbox, smtp):
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox):
        sandbox.control.configure_webhooks(duplicate=True)
        donation = pay(sandbox, mail_app)
    (message,) = smtp.mailbox.messages
    assert message["To"] == "donor@example.org"
    assert message["From"] == "Red Cross <giving@redcross.test>"
    assert message["Subject"] == "Your receipt: £25 to Red Cross Emergency Appeal (Ukraine)"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "£25" in text and donation.id in text and "£25" in html
    assert "4242" not in text + html  # never the card number
    (row,) = outbox_rows(mail_app)
    assert str(message["Message-ID"]).strip().startswith(f"<receipt.{row.id.split(':')[1]}.")
    assert (row.status, row.transport) == (MessageStatus.SENT, "smtp")
    # Delivering the same message again (a duplicate job) sends nothing.
    with mail_app.app_context(), extensions.database(mail_app).sessionmaker() as db:
        assert deliver(db, extensions.settings(mail_app), row.id) is None
    assert len(smtp.mailbox.messages) == 1


def test_receipt_in_ukrainian(mail_app, sandbox, smtp):
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox):
        pay(sandbox, mail_app, locale="uk")
    (message,) = smtp.mailbox.messages
    assert message["Subject"].startswith("Ваша квитанція: ")
    assert message["Content-Language"] == "uk"
    assert "Дякуємо за ваш внесок" in message.get_body(("plain",)).get_content()


def test_smtp_outage_delays_the_receipt_then_sends_it_once(mail_app, sandbox, smtp):
    from sqlalchemy import update

    from service.jobs import deliver_due
    from service.models import utcnow
    from tests.support.servers import serving_webhooks

    smtp.mailbox.mode = "unavailable"
    with serving_webhooks(mail_app, sandbox):
        pay(sandbox, mail_app)
    (row,) = outbox_rows(mail_app)
    assert (row.status, row.attempts) == (MessageStatus.PENDING, 1)
    assert "421" in row.last_error
    assert row.next_attempt_at > utcnow()
    assert smtp.mailbox.messages == []
    with mail_app.app_context():
        deliver_due.call_local()  # not yet due: nothing is tried
    assert outbox_rows(mail_app)[0].attempts == 1
    smtp.mailbox.mode = "accept"
    with extensions.database(mail_app).sessionmaker() as db:  # the back-off has passed
        db.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.commit()
    with mail_app.app_context():
        deliver_due.call_local()
        deliver_due.call_local()
    assert len(smtp.mailbox.messages) == 1
    assert outbox_rows(mail_app)[0].status == MessageStatus.SENT


def test_refused_address_fails_for_good_and_operators_see_it(mail_app, sandbox, smtp):
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox):
        pay(sandbox, mail_app, email="refused@example.org")
    (row,) = outbox_rows(mail_app)
    assert row.status == MessageStatus.FAILED and "550" in row.last_error
    result = mail_app.test_cli_runner().invoke(args=["mail", "failed"])
    assert row.id in result.output
    metrics = mail_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'donation_router_outbox_messages{status="failed"} 1.0' in metrics
    smtp.mailbox.messages.clear()
    result = mail_app.test_cli_runner().invoke(args=["mail", "retry", row.id])
    assert "queued again" in result.output
    assert outbox_rows(mail_app)[0].status == MessageStatus.FAILED  # still refused, tried once more
    assert outbox_rows(mail_app)[0].attempts == 1


def test_receipt_goes_to_the_address_typed_at_checkout_when_the_form_had_none(mail_app, sandbox, smtp):
    """Issue 14: `customer_details.email` from Checkout is enough for a receipt."""
    from service.donations import DonationRequest, create_donation
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox), mail_app.app_context():
        db = extensions.database(mail_app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=2500, currency="gbp")
            donation, _ = create_donation(
                db, extensions.stripe_gateway(mail_app), extensions.settings(mail_app), request
            )
        finally:
            db.close()
        assert donation.email is None
        sandbox.control.complete_session(
            donation.stripe_checkout_session_id, "paid", email="typed@example.org"
        )
        delivered(sandbox)
    if not smtp.mailbox.messages:
        # The receipt was composed while the event carrying the address was still being applied:
        # it waits (never skipped), and the worker's every-minute run sends it once due.
        import time_machine

        from service.email_delivery import deliver as send
        from service.outbox import due_ids

        with (
            time_machine.travel(utcnow_plus(minutes=2)),
            mail_app.app_context(),
            extensions.database(mail_app).sessionmaker() as db,
        ):
            for message_id in due_ids(db):
                send(db, extensions.settings(mail_app), message_id)
    (message,) = smtp.mailbox.messages
    assert message["To"] == "typed@example.org" and message["Subject"].startswith("Your receipt: £25")
    (row,) = outbox_rows(mail_app)
    assert row.status == MessageStatus.SENT


def test_a_gift_without_any_address_queues_nothing(mail_app, sandbox, smtp):
    from service.donations import DonationRequest, create_donation
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox), mail_app.app_context():
        db = extensions.database(mail_app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=2500, currency="gbp")
            donation, _ = create_donation(
                db, extensions.stripe_gateway(mail_app), extensions.settings(mail_app), request
            )
        finally:
            db.close()
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
        delivered(sandbox)
    assert smtp.mailbox.messages == []
    assert all(row.status != MessageStatus.SENT for row in outbox_rows(mail_app))


def test_a_receipt_waiting_for_an_address_is_sent_once_the_address_arrives(mail_app, sandbox, smtp):
    """Stripe's events come in any order: the payment's receipt may be composed before the
    checkout.session.completed that carries the address typed at Checkout."""
    from service.donations import DonationRequest, create_donation
    from service.donations.states import remember_email
    from tests.support.servers import serving_webhooks

    with serving_webhooks(mail_app, sandbox), mail_app.app_context():
        db = extensions.database(mail_app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=2500, currency="gbp")
            donation, _ = create_donation(
                db, extensions.stripe_gateway(mail_app), extensions.settings(mail_app), request
            )
        finally:
            db.close()
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
        delivered(sandbox)
    (receipt,) = [row for row in outbox_rows(mail_app) if row.kind == "receipt"]
    # Waiting for an address (for an hour, then skipped), not dropped.
    assert (receipt.status, receipt.last_error) == (MessageStatus.PENDING, "no_email_address")
    with mail_app.app_context(), extensions.database(mail_app).sessionmaker() as db:
        remember_email(db, donation.id, "late@example.org")
        db.commit()  # the commit hands the revived message to the (in-process) worker
        remember_email(db, donation.id, "other@example.org")  # an address is learnt once
        db.commit()
    (message,) = smtp.mailbox.messages
    assert message["To"] == "late@example.org"
    (receipt,) = [row for row in outbox_rows(mail_app) if row.kind == "receipt"]
    assert receipt.status == MessageStatus.SENT


def utcnow_plus(**delta: int) -> Any:
    from datetime import timedelta

    from service.models import utcnow

    return utcnow() + timedelta(**delta)
