"""A bank debit that fails days after Checkout: reversed in the ledger, the donor told once by email."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.models import Payment
from service.outbox import OutboxMessage
from tests.support.servers import serving_webhooks


def _debit(app: Any, sandbox: Any, *, locale: str | None = None) -> Donation:
    from service.donations import DonationRequest, create_donation

    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=3000, currency="eur",
                                      frequency="one_off", email="iban@example.org")  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(app), extensions.settings(app), request
            )
            if locale:
                from sqlalchemy import update

                db.execute(update(Donation).where(Donation.id == donation.id).values(locale=locale))
                db.commit()
            return donation
        finally:
            db.close()


def _state(app: Any, donation_id: str) -> tuple[str, int, list[str]]:
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None
        payments = db.scalar(select(Payment.id).where(Payment.donation_id == donation_id).limit(1))
        kinds = list(db.scalars(select(OutboxMessage.kind).where(OutboxMessage.donation_id == donation_id)))
        return donation.status, 0 if payments is None else 1, kinds


def test_failed_debit_reverses_the_gift_and_emails_the_donor_once(
    mail_app: Any, sandbox: Any, smtp: Any
) -> None:
    with serving_webhooks(mail_app, sandbox):
        sandbox.control.configure_webhooks(duplicate=True)  # every event arrives twice
        donation = _debit(mail_app, sandbox)
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
        assert sandbox.control.wait_for_webhooks(timeout=20)
        assert _state(mail_app, donation.id) == (DonationStatus.PROCESSING, 0, [])
        assert smtp.mailbox.messages == []  # no receipt for money not yet received

        sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, "failed")
        assert sandbox.control.wait_for_webhooks(timeout=20)
    # Reversed: failed, no payment row (never in raised or finance totals), one email.
    assert _state(mail_app, donation.id) == (DonationStatus.FAILED, 0, ["debit_failed"])
    (message,) = smtp.mailbox.messages
    assert message["To"] == "iban@example.org"
    assert (
        message["Subject"] == "Your bank did not pay your gift of €30 to Red Cross Emergency Appeal (Ukraine)"
    )
    text = message.get_body(("plain",)).get_content()
    assert "Nothing has been taken from your account." in text
    assert "/donate/red-cross-ukraine?amount=3000&currency=eur&frequency=one_off" in text
    assert donation.id in text


def test_failed_debit_email_in_ukrainian(mail_app: Any, sandbox: Any, smtp: Any) -> None:
    with serving_webhooks(mail_app, sandbox):
        donation = _debit(mail_app, sandbox, locale="uk")
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
        sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, "failed")
        assert sandbox.control.wait_for_webhooks(timeout=20)
    (message,) = smtp.mailbox.messages
    assert message["Subject"].startswith("Ваш банк не сплатив вашу пожертву")
    assert "lang=uk" in message.get_body(("plain",)).get_content()


def test_a_debit_that_succeeds_sends_the_receipt_not_the_failure(
    mail_app: Any, sandbox: Any, smtp: Any
) -> None:
    with serving_webhooks(mail_app, sandbox):
        donation = _debit(mail_app, sandbox)
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
        sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, "succeeded")
        assert sandbox.control.wait_for_webhooks(timeout=20)
    assert _state(mail_app, donation.id) == (DonationStatus.PAID, 1, ["receipt"])
    (message,) = smtp.mailbox.messages
    assert message["Subject"].startswith("Your receipt: €30")
