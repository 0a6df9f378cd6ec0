"""A monthly gift whose first payment is a Bacs debit: pledged (processing, no payment row, no
receipt) while the bank takes days; then paid as a card's, or refused: failed, never counted, the
donor told once by email, and no "update your card" or "gift cancelled" email for a gift that
never started."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.models import Appeal, Payment
from service.outbox import OutboxMessage
from service.progress import pledged_totals
from tests.support.servers import serving_webhooks


def _monthly_debit(app: Any) -> Donation:
    from service.donations import DonationRequest, create_donation

    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=1500, currency="gbp",
                                      frequency="monthly", email="sortcode@example.org",
                                      pay_by="bank_debit")  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(app), extensions.settings(app), request
            )
            return donation
        finally:
            db.close()


def _state(app: Any, donation_id: str) -> tuple[str, str | None, int, list[str]]:
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None
        payments = len(list(db.scalars(select(Payment.id).where(Payment.donation_id == donation_id))))
        kinds = sorted(db.scalars(select(OutboxMessage.kind).where(OutboxMessage.donation_id == donation_id)))
        return donation.status, donation.subscription_status, payments, kinds


def _pledged(app: Any) -> list[tuple[str, int, int]]:
    with extensions.database(app).sessionmaker() as db:
        appeal = db.scalar(select(Appeal).where(Appeal.slug == "red-cross-ukraine"))
        return [(t.currency, t.amount, t.gifts) for t in pledged_totals(db, appeal)]


@pytest.mark.parametrize("delivery", ["in_order", "twice_and_shuffled"])
def test_first_debit_pledged_until_the_bank_pays(
    mail_app: Any, sandbox: Any, smtp: Any, delivery: str
) -> None:
    with serving_webhooks(mail_app, sandbox):
        if delivery != "in_order":
            sandbox.control.configure_webhooks(duplicate=True, out_of_order=True)
        donation = _monthly_debit(mail_app)
        session_id = donation.stripe_checkout_session_id
        assert sandbox.state.store.objects[session_id]["payment_method_types"] == ["bacs_debit"]
        sandbox.control.complete_session(session_id, "async")
        assert sandbox.control.wait_for_webhooks(timeout=20)
        status, subscription, payments, kinds = _state(mail_app, donation.id)
        assert (status, payments, kinds) == (DonationStatus.PROCESSING, 0, [])
        assert subscription in (None, "incomplete")
        assert _pledged(mail_app) == [("gbp", 1500, 1)]
        assert smtp.mailbox.messages == []  # no receipt for money not yet received

        # Three days at the bank: still on its way. Ten: Bacs's seven business days have passed.
        assert sandbox.control.advance_bank_clock(3)["settled"] == []
        assert _state(mail_app, donation.id)[0] == DonationStatus.PROCESSING
        assert sandbox.control.advance_bank_clock(7)["settled"] == [session_id]
        assert sandbox.control.wait_for_webhooks(timeout=20)
    status, subscription, payments, kinds = _state(mail_app, donation.id)
    assert (status, subscription, payments) == (DonationStatus.PAID, "active", 1)
    assert "debit_failed" not in kinds and "payment_failed" not in kinds
    assert _pledged(mail_app) == []


@pytest.mark.parametrize("delivery", ["in_order", "twice_and_shuffled"])
def test_first_debit_refused_reverses_the_gift_and_tells_the_donor_once(
    mail_app: Any, sandbox: Any, smtp: Any, delivery: str
) -> None:
    with serving_webhooks(mail_app, sandbox):
        if delivery != "in_order":
            sandbox.control.configure_webhooks(duplicate=True, out_of_order=True)
        donation = _monthly_debit(mail_app)
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
        assert sandbox.control.wait_for_webhooks(timeout=20)
        sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, "failed")
        assert sandbox.control.wait_for_webhooks(timeout=20)
    # Failed, never in raised or pledged, and one email: the debit's, not "update your card" or
    # "your monthly gift was cancelled" for a gift that never started.
    assert _state(mail_app, donation.id) == (DonationStatus.FAILED, "incomplete_expired", 0, ["debit_failed"])
    assert _pledged(mail_app) == []
    (message,) = smtp.mailbox.messages
    assert message["To"] == "sortcode@example.org"
    assert message["Subject"].startswith("Your bank did not pay your gift of £15")


def _paid_monthly_debit(app: Any, sandbox: Any) -> Donation:
    """A monthly Bacs gift whose first debit the bank has paid (its days passed on the bank's clock)."""
    donation = _monthly_debit(app)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
    assert sandbox.control.advance_bank_clock(10)["settled"] == [donation.stripe_checkout_session_id]
    assert sandbox.control.wait_for_webhooks(timeout=20)
    assert _state(app, donation.id) == (DonationStatus.PAID, "active", 1, ["receipt"])
    return donation


def _subscription_id(app: Any, donation_id: str) -> str:
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None and donation.stripe_subscription_id
        return donation.stripe_subscription_id


@pytest.mark.parametrize("delivery", ["in_order", "twice_and_shuffled"])
def test_a_debit_renewal_is_paid_only_when_the_bank_pays(
    mail_app: Any, sandbox: Any, smtp: Any, delivery: str
) -> None:
    """Live Stripe: a renewal by Direct Debit is processing for days, its invoice open; the gift
    stays active and nothing is recorded as paid (no payment, no receipt) until invoice.paid."""
    with serving_webhooks(mail_app, sandbox):
        if delivery != "in_order":
            sandbox.control.configure_webhooks(duplicate=True, out_of_order=True)
        donation = _paid_monthly_debit(mail_app, sandbox)
        renewal = sandbox.control.advance_subscription(_subscription_id(mail_app, donation.id), "paid")
        assert renewal["status"] == "open"
        assert sandbox.control.wait_for_webhooks(timeout=20)
        assert _state(mail_app, donation.id) == (DonationStatus.PAID, "active", 1, ["receipt"])

        # A day at the bank: still on its way. Six more: Bacs's four business days have passed.
        assert sandbox.control.advance_bank_clock(1)["settled"] == []
        assert sandbox.control.advance_bank_clock(6)["settled"] == [renewal["id"]]
        assert sandbox.control.wait_for_webhooks(timeout=20)
    assert _state(mail_app, donation.id) == (DonationStatus.PAID, "active", 2, ["receipt", "receipt"])
    with extensions.database(mail_app).sessionmaker() as db:
        invoices = set(
            db.scalars(select(Payment.stripe_invoice_id).where(Payment.donation_id == donation.id))
        )
    assert renewal["id"] in invoices and len(invoices) == 2


@pytest.mark.parametrize("delivery", ["in_order", "twice_and_shuffled"])
def test_a_refused_debit_renewal_makes_the_gift_past_due_and_asks_for_a_new_way_to_pay(
    mail_app: Any, sandbox: Any, smtp: Any, delivery: str
) -> None:
    with serving_webhooks(mail_app, sandbox):
        if delivery != "in_order":
            sandbox.control.configure_webhooks(duplicate=True, out_of_order=True)
        donation = _paid_monthly_debit(mail_app, sandbox)
        renewal = sandbox.control.advance_subscription(_subscription_id(mail_app, donation.id), "failed")
        assert sandbox.control.wait_for_webhooks(timeout=20)
        assert _state(mail_app, donation.id) == (DonationStatus.PAID, "active", 1, ["receipt"])
        assert sandbox.control.advance_bank_clock(7)["settled"] == [renewal["id"]]
        assert sandbox.control.wait_for_webhooks(timeout=20)
    assert _state(mail_app, donation.id) == (
        DonationStatus.PAID,
        "past_due",
        1,
        ["payment_failed", "receipt"],
    )
    failed = [m for m in smtp.mailbox.messages if "could not be taken" in m["Subject"]]
    assert [m["Subject"] for m in failed] == [
        "Your monthly gift to Red Cross Emergency Appeal (Ukraine) could not be taken: please choose a new "
        "way to pay"
    ]
    assert failed[0]["To"] == "sortcode@example.org"
