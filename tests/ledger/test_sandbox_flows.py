"""Real signed deliveries: the sandbox plays Stripe and POSTs its events to the running app."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import stripe

from service import extensions
from service.donations.models import DonationStatus
from tests.support.ledger import delivered


@pytest.fixture
def paid(live_server, sandbox, make_donation, ledger):
    """A one-off card gift, paid, with every resulting event delivered."""
    donation = make_donation(amount=2500, currency="gbp")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    return donation


def test_card_payment_is_paid_with_fee_net_and_charge(paid, ledger):
    donation = ledger.donation(paid.id)
    assert donation.status == DonationStatus.PAID
    assert donation.paid_at is not None
    (payment,) = ledger.payments(paid.id)
    assert payment.stripe_charge_id.startswith("ch_")
    assert payment.balance_transaction_id.startswith("txn_")
    assert payment.fee > 0
    assert payment.net == payment.amount - payment.fee
    assert payment.settlement_currency == "gbp"
    outcomes = {e.type: e.outcome for e in ledger.events()}
    assert outcomes["checkout.session.completed"] in ("processed", "duplicate")
    assert outcomes["payment_intent.created"] == "ignored"
    assert all(e.outcome != "failed" for e in ledger.events())


def test_partial_then_full_refund_uses_cumulative_totals(paid, sandbox, ledger):
    sandbox.control.refund(
        paid.stripe_payment_intent_id or ledger.donation(paid.id).stripe_payment_intent_id, 1000
    )
    delivered(sandbox)
    donation = ledger.donation(paid.id)
    assert (donation.status, donation.amount_refunded) == (DonationStatus.PARTIALLY_REFUNDED, 1000)
    sandbox.control.refund(donation.stripe_payment_intent_id)
    delivered(sandbox)
    donation = ledger.donation(paid.id)
    assert (donation.status, donation.amount_refunded) == (DonationStatus.REFUNDED, 2500)
    assert ledger.payments(paid.id)[0].amount_refunded == 2500


@pytest.mark.parametrize(
    ("outcome", "final"), [("won", DonationStatus.DISPUTE_WON), ("lost", DonationStatus.DISPUTE_LOST)]
)
def test_dispute_opened_then_closed(paid, sandbox, ledger, outcome, final):
    intent = ledger.donation(paid.id).stripe_payment_intent_id
    dispute = sandbox.control.open_dispute(intent)
    delivered(sandbox)
    assert ledger.donation(paid.id).status == DonationStatus.DISPUTED
    sandbox.control.close_dispute(dispute["id"], outcome)
    delivered(sandbox)
    assert ledger.donation(paid.id).status == final
    assert ledger.payments(paid.id)[0].dispute_status == outcome


@pytest.mark.parametrize(
    ("settlement", "final"), [("succeeded", DonationStatus.PAID), ("failed", DonationStatus.FAILED)]
)
def test_bank_debit_is_processing_until_it_settles(
    live_server, sandbox, make_donation, ledger, settlement, final
):
    donation = make_donation(currency="eur", amount=3000)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
    delivered(sandbox)
    assert ledger.donation(donation.id).status == DonationStatus.PROCESSING
    sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, settlement)
    delivered(sandbox)
    assert ledger.donation(donation.id).status == final


def test_abandoned_session_expires(live_server, sandbox, make_donation, ledger):
    donation = make_donation()
    sandbox.control.expire_session(donation.stripe_checkout_session_id)
    delivered(sandbox)
    assert ledger.donation(donation.id).status == DonationStatus.EXPIRED


def test_monthly_gift_renewals_failures_and_cancellation(live_server, sandbox, make_donation, ledger):
    donation = make_donation(amount=1000, frequency="monthly")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    stored = ledger.donation(donation.id)
    assert stored.status == DonationStatus.PAID
    assert stored.stripe_subscription_id.startswith("sub_")
    (first,) = ledger.payments(donation.id)
    assert (first.kind, first.amount, first.stripe_subscription_id) == (
        "invoice",
        1000,
        stored.stripe_subscription_id,
    )
    assert first.stripe_charge_id and first.fee is not None

    sandbox.control.advance_subscription(stored.stripe_subscription_id, "paid")
    delivered(sandbox)
    payments = ledger.payments(donation.id)
    assert len(payments) == 2
    assert len({p.stripe_invoice_id for p in payments}) == 2

    sandbox.control.advance_subscription(stored.stripe_subscription_id, "failed")
    delivered(sandbox)
    assert ledger.donation(donation.id).subscription_status == "past_due"
    assert len(ledger.payments(donation.id)) == 2
    failed = ledger.events(type="invoice.payment_failed")
    assert failed and failed[0].donation_id == donation.id

    sandbox.control.cancel_subscription(stored.stripe_subscription_id)
    delivered(sandbox)
    stored = ledger.donation(donation.id)
    assert (stored.status, stored.subscription_status) == (DonationStatus.CANCELLED, "canceled")


def test_payout_links_the_payments_it_carried(paid, sandbox, make_donation, ledger):
    (payout,) = sandbox.control.payout(currency="gbp")
    delivered(sandbox)
    (stored,) = ledger.payouts()
    assert (stored.stripe_payout_id, stored.amount, stored.status) == (payout["id"], payout["amount"], "paid")
    assert stored.reconciliation_status == "completed"
    assert stored.payment_count == 1
    assert ledger.payments(paid.id)[0].stripe_payout_id == payout["id"]


def test_duplicated_and_reordered_deliveries_reach_the_same_ledger(
    live_server, sandbox, make_donation, ledger
):
    sandbox.control.configure_webhooks(duplicate=True, out_of_order=True)
    donation = make_donation()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    intent = ledger.donation(donation.id).stripe_payment_intent_id
    sandbox.control.refund(intent, 500)
    sandbox.control.refund(intent, 700)
    delivered(sandbox)
    stored = ledger.donation(donation.id)
    assert (stored.status, stored.amount_refunded) == (DonationStatus.PARTIALLY_REFUNDED, 1200)
    assert len(ledger.payments(donation.id)) == 1
    assert {e.delivery_count for e in ledger.events()} == {2}


def test_monthly_renewal_as_live_stripe_sends_it_fee_refund_and_dispute(
    live_server, sandbox, make_donation, ledger
):
    """Live invoice events carry no ``payments``: the service asks the Invoice Payments API."""
    donation = make_donation(amount=1500, frequency="monthly")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    subscription = ledger.donation(donation.id).stripe_subscription_id
    renewal = sandbox.control.advance_subscription(subscription, "paid")
    delivered(sandbox)
    paid_events = ledger.events(type="invoice.paid")
    assert len(paid_events) == 2 and {e.outcome for e in paid_events} == {"processed"}
    first, second = ledger.payments(donation.id)
    assert second.stripe_invoice_id == renewal["id"]
    for payment in (first, second):
        assert payment.amount == 1500 and payment.stripe_charge_id.startswith("ch_")
        assert payment.fee > 0 and payment.net == payment.amount - payment.fee

    sandbox.control.refund(second.stripe_payment_intent_id, 400)
    delivered(sandbox)
    assert ledger.payments(donation.id)[1].amount_refunded == 400
    assert ledger.donation(donation.id).amount_refunded == 400

    sandbox.control.open_dispute(first.stripe_payment_intent_id)
    delivered(sandbox)
    disputed = ledger.payments(donation.id)[0]
    assert (disputed.dispute_status, disputed.dispute_amount) == ("needs_response", 1500)


@pytest.mark.parametrize("kind", ["manual", "instant"])
def test_manual_and_instant_payouts_are_recorded_not_itemised(
    paid, sandbox, make_donation, ledger, runner, settings, kind
):
    """Before: payout.paid asked Stripe to itemise the manual payout, was refused, and failed."""
    stripe_client = stripe.StripeClient(settings.stripe_secret_key, base_addresses={"api": sandbox.base_url})
    (automatic,) = sandbox.control.payout(currency="gbp")
    delivered(sandbox)
    later = make_donation(amount=4000, currency="gbp")
    sandbox.control.complete_session(later.stripe_checkout_session_id, "paid")
    (payout,) = sandbox.control.payout(currency="gbp", kind=kind)
    delivered(sandbox)
    assert (automatic["automatic"], payout["automatic"]) == (True, False)
    assert payout["method"] == ("instant" if kind == "instant" else "standard")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.balance_transactions.list(params={"payout": payout["id"]})
    assert refused.value.param == "payout"

    stored = {p.stripe_payout_id: p for p in ledger.payouts()}
    manual = stored[payout["id"]]
    assert (manual.automatic, manual.method, manual.status, manual.amount) == (
        False, payout["method"], "paid", payout["amount"],
    )  # fmt: skip
    assert manual.payment_count == 0 and ledger.payments(later.id)[0].stripe_payout_id is None
    assert stored[automatic["id"]].payment_count == 1
    assert ledger.payments(paid.id)[0].stripe_payout_id == automatic["id"]
    assert "failed" not in {e.outcome for e in ledger.events()}
    result = runner.invoke(args=["stripe", "sync-events", "--since", "1h"])
    assert result.exit_code == 0, result.output
    assert "failed" not in {e.outcome for e in ledger.events()}


def test_dispute_fee_recorded_and_an_appeal_won_after_lost(paid, sandbox, ledger):
    intent = ledger.donation(paid.id).stripe_payment_intent_id
    dispute = sandbox.control.open_dispute(intent)
    delivered(sandbox)
    fee = dispute["balance_transactions"][0]["fee"]
    payment = ledger.payments(paid.id)[0]
    assert (payment.dispute_status, payment.dispute_fee) == ("needs_response", fee) and fee > 0
    sandbox.control.close_dispute(dispute["id"], "lost")
    delivered(sandbox)
    assert ledger.donation(paid.id).status == DonationStatus.DISPUTE_LOST
    for status in ("appeal_needs_response", "appeal_under_review"):
        sandbox.control.dispute_status(dispute["id"], status)
        delivered(sandbox)
        assert ledger.payments(paid.id)[0].dispute_status == status
        assert ledger.donation(paid.id).status == DonationStatus.DISPUTE_LOST
    sandbox.control.dispute_status(dispute["id"], "won")
    delivered(sandbox)
    payment = ledger.payments(paid.id)[0]
    assert (payment.dispute_status, payment.dispute_fee) == ("won", 0)  # the fee came back
    assert ledger.donation(paid.id).status == DonationStatus.DISPUTE_WON
    assert "failed" not in {e.outcome for e in ledger.events()}


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (["warning_under_review", "warning_closed"], "warning_closed"),
        (["prevented"], "prevented"),
        (["warning_under_review", "needs_response", "under_review", "lost"], "lost"),
    ],
)
def test_inquiries_and_prevented_disputes(paid, sandbox, ledger, path, final):
    intent = ledger.donation(paid.id).stripe_payment_intent_id
    dispute = sandbox.control.open_dispute(intent, inquiry=True)
    delivered(sandbox)
    assert ledger.payments(paid.id)[0].dispute_status == "warning_needs_response"
    assert ledger.donation(paid.id).status == DonationStatus.PAID  # an inquiry withdraws nothing
    for status in path:
        sandbox.control.dispute_status(dispute["id"], status)
    delivered(sandbox)
    payment = ledger.payments(paid.id)[0]
    assert payment.dispute_status == final
    if final == "lost":
        assert ledger.donation(paid.id).status == DonationStatus.DISPUTE_LOST and payment.dispute_fee > 0
    else:
        assert ledger.donation(paid.id).status == DonationStatus.PAID and payment.dispute_fee is None


def test_a_refund_that_fails_after_charge_refunded_lowers_the_refunded_amount(paid, sandbox, ledger):
    intent = ledger.donation(paid.id).stripe_payment_intent_id
    first = sandbox.control.refund(intent, 1000)
    sandbox.control.refund(intent)
    delivered(sandbox)
    assert ledger.donation(paid.id).status == DonationStatus.REFUNDED
    sandbox.control.fail_refund(first["id"])
    delivered(sandbox)
    donation = ledger.donation(paid.id)
    payment = ledger.payments(paid.id)[0]
    assert (payment.amount_refunded, payment.amount_refund_failed) == (1500, 1000)
    assert (donation.amount_refunded, donation.status) == (1500, DonationStatus.PARTIALLY_REFUNDED)
    outcomes = {e.type: e.outcome for e in ledger.events()}
    assert outcomes["refund.failed"] in ("processed", "duplicate")
    assert outcomes["charge.refund.updated"] in ("processed", "duplicate")


def _post(app, event) -> str:
    from tests.ledger import payloads

    # stripe-python reads Stripe's "*_decimal" strings as Decimal; str() gives them back.
    response = payloads.post(app.test_client(), json.loads(json.dumps(event, default=str)))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["outcome"]


def _renewal_refund_events(sandbox, make_donation, ledger, settings):
    """A paid monthly gift renewed once and the renewal half refunded, with webhooks off: the
    donation, the renewal invoice, and its ``charge.refunded`` and ``invoice.paid`` events."""
    stripe_client = stripe.StripeClient(settings.stripe_secret_key, base_addresses={"api": sandbox.base_url})
    donation = make_donation(amount=1200, frequency="monthly")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    sandbox.control.configure_webhooks(urls=[])  # the next events are delivered by hand, in this order
    renewal = sandbox.control.advance_subscription(ledger.donation(donation.id).stripe_subscription_id)
    (link,) = stripe_client.v1.invoice_payments.list(params={"invoice": renewal["id"]}).data
    sandbox.control.refund(link.payment.payment_intent, 300)
    listed = stripe_client.v1.events.list(params={"types": ["invoice.paid", "charge.refunded"]}).data
    refund_event = next(e for e in listed if e.type == "charge.refunded").to_dict()
    invoice_event = next(e for e in listed if e.data.object.id == renewal["id"]).to_dict()
    return donation, renewal, refund_event, invoice_event


def test_a_renewal_refund_before_its_invoice_waits_and_is_counted_until_applied(
    live_server, sandbox, make_donation, ledger, settings, app
):
    """Before: the refund was stored `ignored` and nothing ever applied it."""
    donation, renewal, refund_event, invoice_event = _renewal_refund_events(
        sandbox, make_donation, ledger, settings
    )
    assert _post(app, refund_event) == "waiting"
    with app.app_context():
        from service.finance.reports.discrepancies import find_all
        from service.finance.reports.scope import Scope
        from service.models import utcnow

        db = extensions.database(app).sessionmaker()
        try:
            later = find_all(
                db, Scope(appeal_ids=None, personal_data=True), now=utcnow() + timedelta(hours=2)
            )
        finally:
            db.close()
    # This refund is listed (under load the gift's first payment's own events may add another).
    waiting = [f["event_id"] for f in later["items"] if f["kind"] == "event_waiting_for_payment"]
    assert refund_event["id"] in waiting

    assert _post(app, invoice_event) == "processed"
    # Applied again once its payment arrived (duplicate: the invoice's charge lookup already had it).
    assert ledger.event(refund_event["id"]).outcome in ("processed", "duplicate")
    renewal_payment = next(x for x in ledger.payments(donation.id) if x.stripe_invoice_id == renewal["id"])
    assert renewal_payment.amount_refunded == 300 and renewal_payment.fee > 0
    assert ledger.donation(donation.id).amount_refunded == 300


def test_an_event_set_aside_after_its_payment_arrived_is_applied_by_the_minute_job(
    live_server, sandbox, make_donation, ledger, settings, app
):
    """The lost wake-up: the refund is stored `waiting` and its invoice is then applied without the
    look for waiting events that follows it (as when two workers cross); `apply-due` applies it."""
    from service.ledger import receiving

    donation, renewal, refund_event, invoice_event = _renewal_refund_events(
        sandbox, make_donation, ledger, settings
    )
    assert _post(app, refund_event) == "waiting"
    with app.app_context():
        sessions = extensions.database(app).sessionmaker
        with sessions() as db:
            receiving.store_event(db, invoice_event, json.dumps(invoice_event, default=str))
        gateway = extensions.stripe_gateway(app)
        assert (
            receiving.process_event(sessions, gateway, settings, invoice_event["id"]).outcome == "processed"
        )
    assert ledger.event(refund_event["id"]).outcome == "waiting"  # nothing looked for it

    output = app.test_cli_runner().invoke(args=["webhooks", "apply-due"]).output
    # This refund, and under load perhaps the gift's first payment's own events as well (as in the
    # test above): a clean-clone CI run saw "2 waiting for their payment applied."
    applied = re.search(r"(\d+) waiting for their payment applied\.", output)
    assert applied is not None and int(applied.group(1)) >= 1, output
    assert ledger.event(refund_event["id"]).outcome in ("processed", "duplicate")
    renewal_payment = next(x for x in ledger.payments(donation.id) if x.stripe_invoice_id == renewal["id"])
    assert renewal_payment.amount_refunded == 300


def test_events_at_an_older_api_version_beside_current_ones(live_server, sandbox, make_donation, ledger):
    """Invoices before 2025-03-31.basil have top-level subscription and payment_intent (read as
    such); other events at another version are applied and flagged for review."""
    one_off = make_donation(amount=2500)
    sandbox.control.complete_session(one_off.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    sandbox.control.configure_webhooks(api_version="2024-06-20")
    monthly = make_donation(amount=1000, frequency="monthly")
    sandbox.control.complete_session(monthly.stripe_checkout_session_id, "paid")
    sandbox.control.refund(ledger.donation(one_off.id).stripe_payment_intent_id, 500)
    delivered(sandbox)

    (invoice_paid,) = ledger.events(type="invoice.paid")
    assert invoice_paid.api_version == "2024-06-20"
    invoice = json.loads(invoice_paid.payload)["data"]["object"]
    assert "parent" not in invoice and invoice["payment_intent"].startswith("pi_")
    assert (invoice_paid.outcome, invoice_paid.needs_review) == ("processed", False)
    (first,) = ledger.payments(monthly.id)
    assert first.fee > 0 and first.stripe_invoice_id

    (refunded,) = ledger.events(type="charge.refunded")
    assert (refunded.outcome, refunded.needs_review) == ("processed", True)
    assert "2024-06-20" in refunded.outcome_reason
    assert ledger.donation(one_off.id).amount_refunded == 500
    current = ledger.events(type="checkout.session.completed")[0]
    assert (current.api_version, current.needs_review) == ("2026-10-28.endive", False)
