"""Checkout Session events move a donation forwards only, in any order, once."""

from __future__ import annotations

import pytest

from service.donations.models import DonationStatus

from . import payloads

COMPLETED, EXPIRED = "checkout.session.completed", "checkout.session.expired"
ASYNC_OK, ASYNC_FAILED = "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"


def completed(donation, **kw):
    return payloads.event(COMPLETED, payloads.session(donation, **kw))


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        ([(COMPLETED, "complete", "paid")], DonationStatus.PAID),
        ([(COMPLETED, "complete", "unpaid")], DonationStatus.PROCESSING),
        ([(COMPLETED, "complete", "unpaid"), (ASYNC_OK, "complete", "paid")], DonationStatus.PAID),
        ([(ASYNC_OK, "complete", "paid"), (COMPLETED, "complete", "unpaid")], DonationStatus.PAID),
        ([(COMPLETED, "complete", "unpaid"), (ASYNC_FAILED, "complete", "unpaid")], DonationStatus.FAILED),
        ([(ASYNC_FAILED, "complete", "unpaid"), (COMPLETED, "complete", "unpaid")], DonationStatus.FAILED),
        ([(EXPIRED, "expired", "unpaid")], DonationStatus.EXPIRED),
        ([(EXPIRED, "expired", "unpaid"), (COMPLETED, "complete", "paid")], DonationStatus.EXPIRED),
    ],
    ids=["paid", "processing", "async-ok", "async-ok-reversed", "async-failed", "async-failed-reversed",
         "expired", "expired-then-late-completed"],
)  # fmt: skip
def test_session_events_in_either_order_reach_the_same_state(client, ledger, make_donation, steps, final):
    donation = make_donation()
    for event_type, status, payment_status in steps:
        response = payloads.post(
            client,
            payloads.event(
                event_type, payloads.session(donation, status=status, payment_status=payment_status)
            ),
        )
        assert response.status_code == 200
    assert ledger.donation(donation.id).status == final


def test_paid_session_records_a_payment_and_paid_time(client, ledger, make_donation):
    donation = make_donation(amount=5000, currency="eur")
    payloads.post(client, completed(donation))
    stored = ledger.donation(donation.id)
    assert stored.paid_at is not None
    assert stored.stripe_payment_intent_id == "pi_" + donation.id[4:]
    (payment,) = ledger.payments(donation.id)
    assert (payment.kind, payment.amount, payment.currency) == ("one_off", 5000, "eur")


def test_replayed_event_is_processed_once_then_duplicate(client, ledger, make_donation):
    donation = make_donation()
    evt = completed(donation)
    assert payloads.post(client, evt).get_json()["outcome"] == "processed"
    again = payloads.post(client, evt).get_json()
    assert (again["outcome"], again["duplicate"]) == ("processed", True)
    assert len(ledger.payments(donation.id)) == 1
    assert ledger.event(evt["id"]).delivery_count == 2


def test_a_second_event_with_the_same_facts_is_recorded_as_duplicate(client, ledger, make_donation):
    donation = make_donation()
    payloads.post(client, completed(donation))
    later = completed(donation)
    assert payloads.post(client, later).get_json()["outcome"] == "duplicate"
    assert ledger.event(later["id"]).outcome_reason == "already_applied"


def test_amount_mismatch_is_quarantined_and_flagged_not_applied(client, ledger, make_donation):
    donation = make_donation(amount=2500)
    evt = completed(donation, amount_total=250)
    assert payloads.post(client, evt).status_code == 200
    stored_event = ledger.event(evt["id"])
    assert stored_event.outcome == "quarantined"
    assert stored_event.needs_review
    assert stored_event.outcome_reason.startswith("amount_mismatch")
    stored = ledger.donation(donation.id)
    assert stored.status == DonationStatus.PENDING
    assert stored.needs_attention
    assert "amount_mismatch" in stored.attention_reason
    assert ledger.payments(donation.id) == []


def test_currency_mismatch_is_quarantined(client, ledger, make_donation):
    donation = make_donation(currency="gbp")
    evt = completed(donation, currency="usd")
    payloads.post(client, evt)
    assert ledger.event(evt["id"]).outcome == "quarantined"
    assert ledger.donation(donation.id).status == DonationStatus.PENDING


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s["metadata"].update(deployment="another-newsroom"), "other_deployment: another-newsroom"),
        (lambda s: s.update(metadata={}), "no_deployment_metadata"),
        (lambda s: s["metadata"].update(donation_id="don_unknown"), "unknown_donation"),
    ],
    ids=["other-deployment", "no-metadata", "unknown-donation"],
)
def test_events_not_ours_are_quarantined_and_never_applied(client, ledger, make_donation, change, reason):
    donation = make_donation()
    session = payloads.session(donation)
    change(session)
    evt = payloads.event(COMPLETED, session)
    assert payloads.post(client, evt).status_code == 200
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.outcome_reason, stored.needs_review) == ("quarantined", reason, True)
    assert ledger.donation(donation.id).status == DonationStatus.PENDING


def test_live_event_reaching_a_test_mode_deployment_is_quarantined(client, ledger, make_donation):
    donation = make_donation()
    evt = payloads.event(COMPLETED, payloads.session(donation), livemode=True)
    payloads.post(client, evt)
    assert ledger.event(evt["id"]).outcome_reason == "livemode_mismatch"
    assert ledger.donation(donation.id).status == DonationStatus.PENDING


def test_test_event_reaching_a_live_deployment_is_quarantined(make_app, sandbox, ledger, make_donation):
    donation = make_donation()
    live = make_app(stripe_secret_key="sk_live_x")
    evt = payloads.event(COMPLETED, payloads.session(donation), livemode=False)
    payloads.post(live.test_client(), evt)
    assert ledger.event(evt["id"]).outcome_reason == "livemode_mismatch"


def test_session_that_is_not_the_donations_is_quarantined(client, ledger, make_donation):
    donation = make_donation()
    evt = payloads.event(COMPLETED, payloads.session(donation, id="cs_test_someone_elses"))
    payloads.post(client, evt)
    assert ledger.event(evt["id"]).outcome_reason == "session_not_the_donations"


def test_event_links_to_the_donation_it_touched(client, ledger, make_donation):
    donation = make_donation()
    evt = completed(donation)
    payloads.post(client, evt)
    assert ledger.event(evt["id"]).donation_id == donation.id


def test_thank_you_page_and_webhook_apply_the_same_facts_once(client, sandbox, ledger, make_donation):
    donation = make_donation()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    page = client.get(f"/donate/red-cross-ukraine/thanks?session_id={donation.stripe_checkout_session_id}")
    assert page.status_code == 200
    assert ledger.donation(donation.id).status == DonationStatus.PAID
    stored_intent = ledger.donation(donation.id).stripe_payment_intent_id
    evt = completed(donation, payment_intent=stored_intent)
    assert payloads.post(client, evt).get_json()["outcome"] == "duplicate"
    assert len(ledger.payments(donation.id)) == 1
