"""Recovering what webhooks missed: sync-events, replay and the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.errors import CheckoutUnavailable
from service.ledger import dispatch
from service.ledger.sweeper import sweep
from service.models import utcnow

from . import payloads


def test_sync_events_applies_events_whose_deliveries_were_dropped(runner, sandbox, make_donation, ledger):
    # No webhook endpoint is configured, so every event below is dropped.
    donation = make_donation()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    stored = ledger.donation(donation.id)
    assert stored.status == DonationStatus.PENDING
    result = runner.invoke(args=["stripe", "sync-events", "--since", "1h"])
    assert result.exit_code == 0, result.output
    assert "Synced" in result.output
    stored = ledger.donation(donation.id)
    assert stored.status == DonationStatus.PAID
    (payment,) = ledger.payments(donation.id)
    assert payment.fee is not None
    assert {e.source for e in ledger.events()} == {"sync"}


def test_sync_events_twice_changes_nothing_the_second_time(runner, sandbox, make_donation, ledger):
    donation = make_donation()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    runner.invoke(args=["stripe", "sync-events"])
    before = [(e.stripe_event_id, e.outcome) for e in ledger.events()]
    result = runner.invoke(args=["stripe", "sync-events"])
    assert result.exit_code == 0
    assert "nothing to apply" in result.output
    assert [(e.stripe_event_id, e.outcome) for e in ledger.events()] == before


def test_sync_events_rejects_a_bad_window(runner):
    result = runner.invoke(args=["stripe", "sync-events", "--since", "yesterday"])
    assert result.exit_code == 2


def test_failed_event_answers_500_and_replay_applies_it(client, runner, make_donation, ledger, monkeypatch):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation))

    def broken(ctx, event):
        raise RuntimeError("bug")

    monkeypatch.setitem(dispatch.HANDLERS, "checkout.session.completed", broken)
    assert payloads.post(client, evt).status_code == 500
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.outcome_reason) == ("failed", "error: RuntimeError")
    assert ledger.donation(donation.id).status == DonationStatus.PENDING

    monkeypatch.undo()
    result = runner.invoke(args=["webhooks", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert f"{evt['id']}: processed" in result.output
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_stripe_retry_after_a_failure_is_processed(client, make_donation, ledger, monkeypatch):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation))
    monkeypatch.setitem(dispatch.HANDLERS, "checkout.session.completed", lambda ctx, event: 1 / 0)
    assert payloads.post(client, evt).status_code == 500
    monkeypatch.undo()
    assert payloads.post(client, evt).get_json()["outcome"] == "processed"
    assert ledger.event(evt["id"]).process_attempts == 2


def test_replay_by_id_leaves_processed_events_alone_unless_forced(client, runner, make_donation, ledger):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation))
    payloads.post(client, evt)
    result = runner.invoke(args=["webhooks", "replay", evt["id"]])
    assert "left as it was" in result.output
    forced = runner.invoke(args=["webhooks", "replay", "--force", evt["id"]])
    assert f"{evt['id']}: duplicate" in forced.output
    assert len(ledger.payments(donation.id)) == 1


def test_replay_of_an_unknown_event_fails(runner):
    assert runner.invoke(args=["webhooks", "replay", "evt_unknown"]).exit_code == 1


def test_review_lists_quarantined_events(client, runner, make_donation):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation, amount_total=1))
    payloads.post(client, evt)
    result = runner.invoke(args=["webhooks", "review"])
    assert evt["id"] in result.output and "amount_mismatch" in result.output


def _age(app, donation_id: str, **values) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Donation).where(Donation.id == donation_id).values(**values))


def test_sweeper_creates_the_session_a_failed_request_never_got(app, runner, sandbox, make_donation, ledger):
    sandbox.control.fail_next(count=4, path_prefix="/v1/checkout/sessions", status=500)
    with pytest.raises(CheckoutUnavailable):
        make_donation()
    sandbox.control.clear_faults()
    with extensions.database(app).sessionmaker() as db:
        donation_id = db.scalar(select(Donation.id).where(Donation.status == DonationStatus.CHECKOUT_ERROR))
    # Two minutes on (the row's created_at stays as it was, as it would in real life).
    report = sweep(extensions.database(app).sessionmaker, extensions.stripe_gateway(app), extensions.settings(app),
                   now=utcnow() + timedelta(minutes=2))  # fmt: skip
    assert report["session_created"] == 1, report
    stored = ledger.donation(donation_id)
    assert stored.status == DonationStatus.PENDING
    assert stored.stripe_checkout_session_id.startswith("cs_")
    keys = {
        r["idempotency_key"] for r in sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    }
    # The retry two minutes later sends the same parameters under the same key.
    assert len(keys) == 1 and keys.pop().startswith(f"donation-{donation_id}-checkout-")


def test_sweeper_leaves_young_donations_to_their_request(app, runner, sandbox, make_donation, ledger):
    sandbox.control.fail_next(count=4, path_prefix="/v1/checkout/sessions", status=500)
    with pytest.raises(CheckoutUnavailable):
        make_donation()
    sandbox.control.clear_faults()
    assert "nothing to do" in runner.invoke(args=["donations", "sweep"]).output


def test_sweeper_settles_a_session_that_expired_without_an_event(app, runner, sandbox, make_donation, ledger):
    donation = make_donation()
    sandbox.control.expire_session(donation.stripe_checkout_session_id)  # event dropped: no endpoint
    _age(app, donation.id, checkout_expires_at=utcnow() - timedelta(minutes=30))
    result = runner.invoke(args=["donations", "sweep"])
    assert "updated 1" in result.output, result.output
    assert ledger.donation(donation.id).status == DonationStatus.EXPIRED


def test_sweeper_finds_a_payment_whose_events_were_lost(app, runner, sandbox, make_donation, ledger):
    donation = make_donation()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    _age(app, donation.id, checkout_expires_at=utcnow() - timedelta(minutes=30))
    runner.invoke(args=["donations", "sweep"])
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_sync_events_rebuilds_renewals_refunds_and_payouts(runner, sandbox, make_donation, ledger):
    monthly = make_donation(amount=1000, frequency="monthly")
    sandbox.control.complete_session(monthly.stripe_checkout_session_id, "paid")
    one_off = make_donation(amount=2500)
    sandbox.control.complete_session(one_off.stripe_checkout_session_id, "paid")
    runner.invoke(args=["stripe", "sync-events"])
    sub_id = ledger.donation(monthly.id).stripe_subscription_id
    sandbox.control.advance_subscription(sub_id, "paid")
    sandbox.control.refund(ledger.donation(one_off.id).stripe_payment_intent_id, 500)
    (payout,) = sandbox.control.payout(currency="gbp")
    result = runner.invoke(args=["stripe", "sync-events", "--since", "1h"])
    assert result.exit_code == 0, result.output
    assert len(ledger.payments(monthly.id)) == 2
    assert ledger.donation(one_off.id).status == DonationStatus.PARTIALLY_REFUNDED
    (stored_payout,) = ledger.payouts()
    assert stored_payout.stripe_payout_id == payout["id"]
    assert {x.stripe_payout_id for x in ledger.payments()} == {payout["id"]}


def test_sync_events_asks_for_at_most_20_types_per_call(app, settings):
    """The ledger handles more event types than Stripe's 20 per events.list call."""
    from service.ledger.dispatch import EVENT_TYPES
    from service.ledger.sync import sync_events

    calls: list[list[str]] = []

    class Listing:
        def list_events(self, *, created_gte, types, starting_after=None, limit=100, account=None):
            calls.append(list(types))
            return [], False

    sessions = extensions.database(app).sessionmaker
    sync_events(sessions, Listing(), settings, timedelta(hours=1))  # type: ignore[arg-type]
    assert len(EVENT_TYPES) > 20
    assert all(len(types) <= 20 for types in calls)
    assert sorted(t for types in calls for t in types) == sorted(EVENT_TYPES)
