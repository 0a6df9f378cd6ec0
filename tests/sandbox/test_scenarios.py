"""Scenario controls (sandbox.control_client.SandboxControl) and the events each one emits."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from sandbox.control_client import SandboxError


def _types_since(stripe_client, count_before: int) -> list[str]:
    events = stripe_client.v1.events.list(params={"limit": 100}).data
    return [e.type for e in reversed(events)][count_before:]


def _event_count(stripe_client) -> int:
    return len(stripe_client.v1.events.list(params={"limit": 100}).data)


@pytest.fixture
def paid(stripe_client, sandbox, donation):
    """A paid £5 donation: (session, payment intent id, charge id)."""
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id)
    pi = stripe_client.v1.payment_intents.retrieve(
        stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    return session, pi.id, pi.latest_charge


def test_declined_then_paid(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id, "declined")
    got = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert got.status == "open"
    assert got.payment_intent.last_payment_error.code == "card_declined"
    assert "payment_intent.payment_failed" in _types_since(stripe_client, 0)
    sandbox.control.complete_session(session.id)
    again = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (again.payment_status, again.payment_intent) == ("paid", got.payment_intent.id)
    charges = stripe_client.v1.charges.list(params={"payment_intent": again.payment_intent})
    assert [c.status for c in charges.data] == ["succeeded", "failed"]


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_async_bank_debit(stripe_client, sandbox, donation, outcome):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id, "async", email="bank@example.org")
    got = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (got.status, got.payment_status) == ("complete", "unpaid")
    assert got.payment_intent.status == "processing"
    before = _event_count(stripe_client)
    sandbox.control.settle_async_payment(session.id, outcome)
    after = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    new = _types_since(stripe_client, before)
    if outcome == "succeeded":
        assert after.payment_status == "paid" and after.payment_intent.status == "succeeded"
        assert new[-1] == "checkout.session.async_payment_succeeded"
        assert {"charge.succeeded", "payment_intent.succeeded", "charge.updated"} <= set(new)
    else:
        assert after.payment_status == "unpaid"
        assert after.payment_intent.status == "requires_payment_method"
        # The refused debit's mandate goes inactive (mandate.updated) before the intent fails.
        assert new == ["charge.failed", "mandate.updated", "payment_intent.payment_failed",
                       "checkout.session.async_payment_failed"]  # fmt: skip
    with pytest.raises(SandboxError):
        sandbox.control.settle_async_payment(session.id)


def test_async_settles_by_timer_with_chosen_outcome(stripe_client, sandbox, donation):
    sandbox.control.configure(async_settle_seconds=0.2)
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id, "async", async_outcome="failed")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "checkout.session.async_payment_failed" in _types_since(stripe_client, 0):
            break
        time.sleep(0.05)
    assert "checkout.session.async_payment_failed" in _types_since(stripe_client, 0)


def test_refund_partly_then_fully(stripe_client, sandbox, paid):
    _, pi, charge = paid
    refund = sandbox.control.refund(charge, amount=200)
    assert (refund["amount"], refund["status"]) == (200, "succeeded")
    ch = stripe_client.v1.charges.retrieve(charge)
    assert (ch.amount_refunded, ch.refunded) == (200, False)
    api_refund = stripe_client.v1.refunds.create(params={"payment_intent": pi})
    assert api_refund.amount == 300
    ch = stripe_client.v1.charges.retrieve(charge)
    assert (ch.amount_refunded, ch.refunded) == (500, True)
    txn = stripe_client.v1.balance_transactions.retrieve(api_refund.balance_transaction)
    assert (txn.type, txn.amount, txn.source) == ("refund", -300, api_refund.id)
    refunds = stripe_client.v1.refunds.list(params={"charge": charge})
    assert [r.amount for r in refunds.data] == [300, 200]
    assert stripe_client.v1.refunds.retrieve(api_refund.id).charge == charge
    types = _types_since(stripe_client, 0)
    assert types.count("refund.created") == 2 and types.count("charge.refunded") == 2


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_dispute_open_and_close(stripe_client, sandbox, paid, outcome):
    _, _, charge = paid
    before = _event_count(stripe_client)
    dispute = sandbox.control.open_dispute(charge)
    assert dispute["status"] == "needs_response" and dispute["amount"] == 500
    assert stripe_client.v1.charges.retrieve(charge).disputed is True
    closed = sandbox.control.close_dispute(dispute["id"], outcome)
    assert closed["status"] == outcome
    got = stripe_client.v1.disputes.retrieve(dispute["id"])
    assert got.status == outcome
    expected = ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    if outcome == "won":
        expected.append("charge.dispute.funds_reinstated")
        assert [t.reporting_category for t in got.balance_transactions] == [
            "dispute", "dispute_reversal"]  # fmt: skip
    assert _types_since(stripe_client, before) == [*expected, "charge.dispute.closed"]
    with pytest.raises(stripe.InvalidRequestError, match="charged back"):
        stripe_client.v1.refunds.create(params={"charge": charge})


def test_payout_sweeps_available_balance(stripe_client, sandbox, paid, donation):
    _, _, charge = paid
    sandbox.control.refund(charge, amount=100)
    balance = stripe_client.v1.balance.retrieve()
    assert balance.pending[0].amount == 472 and balance.available[0].amount == -100
    (payout,) = sandbox.control.payout()
    assert (payout["amount"], payout["currency"], payout["status"]) == (372, "gbp", "paid")
    assert payout["reconciliation_status"] == "completed"
    txns = stripe_client.v1.balance_transactions.list(params={"payout": payout["id"]})
    assert sorted(t.type for t in txns.data) == ["charge", "payout", "refund"]
    assert sum(t.net for t in txns.data) == 0
    charges_only = stripe_client.v1.balance_transactions.list(
        params={"payout": payout["id"], "type": "charge"}
    )
    assert [t.source for t in charges_only.data] == [charge]
    assert stripe_client.v1.payouts.retrieve(payout["id"]).amount == 372
    assert [p.id for p in stripe_client.v1.payouts.list().data] == [payout["id"]]
    assert {"payout.paid", "payout.reconciliation_completed"} <= set(_types_since(stripe_client, 0))
    assert sandbox.control.payout() == []  # nothing left


def test_settle_balance_makes_pending_available(stripe_client, sandbox, paid):
    _, _, charge = paid
    txn = stripe_client.v1.charges.retrieve(charge, params={"expand": ["balance_transaction"]})
    assert txn.balance_transaction.status == "pending"
    assert txn.balance_transaction.available_on > time.time() + 86_400
    assert sandbox.control.settle_balance()["settled"] == 1
    again = stripe_client.v1.balance_transactions.retrieve(txn.balance_transaction.id)
    assert again.status == "available"
    by_source = stripe_client.v1.balance_transactions.list(params={"source": charge})
    assert [t.id for t in by_source.data] == [again.id]


@pytest.fixture
def subscribed(stripe_client, sandbox, monthly):
    session = stripe_client.v1.checkout.sessions.create(params=monthly())
    sandbox.control.complete_session(session.id, email="m@example.org")
    return stripe_client.v1.checkout.sessions.retrieve(session.id).subscription


def test_subscription_creation_events(stripe_client, subscribed):
    types = _types_since(stripe_client, 0)
    for t in ["customer.created", "customer.subscription.created", "invoice.created",
              "invoice.finalized", "invoice.paid", "checkout.session.completed"]:  # fmt: skip
        assert t in types
    assert stripe_client.v1.subscriptions.retrieve(subscribed).status == "active"


def test_advance_subscription_paid(stripe_client, sandbox, subscribed):
    sub = stripe_client.v1.subscriptions.retrieve(subscribed)
    end = sub["items"].data[0].current_period_end
    before = _event_count(stripe_client)
    invoice = sandbox.control.advance_subscription(subscribed)
    assert (invoice["status"], invoice["billing_reason"]) == ("paid", "subscription_cycle")
    assert invoice["period_start"] == end
    after = stripe_client.v1.subscriptions.retrieve(subscribed)
    assert after["items"].data[0].current_period_start == end
    assert after.latest_invoice == invoice["id"]
    new = _types_since(stripe_client, before)
    assert "invoice.paid" in new and "customer.subscription.updated" in new
    invoices = stripe_client.v1.invoices.list(params={"subscription": subscribed})
    assert len(invoices.data) == 2


def test_advance_subscription_failed(stripe_client, sandbox, subscribed):
    before = _event_count(stripe_client)
    invoice = sandbox.control.advance_subscription(subscribed, "failed")
    assert invoice["status"] == "open" and invoice["amount_paid"] == 0
    assert stripe_client.v1.subscriptions.retrieve(subscribed).status == "past_due"
    new = _types_since(stripe_client, before)
    assert "invoice.payment_failed" in new and "invoice.paid" not in new
    got = stripe_client.v1.invoices.retrieve(
        invoice["id"], params={"expand": ["payments.data.payment.payment_intent"]}
    )
    assert got.payments.data[0].payment.payment_intent.status == "requires_payment_method"


def test_cancel_subscription_via_api_and_control(stripe_client, sandbox, subscribed, monthly):
    canceled = stripe_client.v1.subscriptions.cancel(subscribed)
    assert canceled.status == "canceled" and canceled.canceled_at
    assert "customer.subscription.deleted" in _types_since(stripe_client, 0)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.cancel(subscribed)
    session = stripe_client.v1.checkout.sessions.create(params=monthly())
    sandbox.control.complete_session(session.id)
    other = stripe_client.v1.checkout.sessions.retrieve(session.id).subscription
    assert sandbox.control.cancel_subscription(other)["status"] == "canceled"


def test_expire_session_control(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    assert sandbox.control.expire_session(session.id)["status"] == "expired"
    assert "checkout.session.expired" in _types_since(stripe_client, 0)
    with pytest.raises(SandboxError) as info:
        sandbox.control.complete_session(session.id)
    assert info.value.status == 400


def test_recorded_requests_and_reset(stripe_client, sandbox, donation):
    stripe_client.v1.checkout.sessions.create(params=donation())
    (req,) = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    assert req["params"]["metadata"] == {"appeal_id": "gaza-2026"}
    assert req["params"]["line_items"][0]["price_data"]["unit_amount"] == "500"  # as sent
    sandbox.control.clear_requests()
    assert sandbox.control.requests() == []
    sandbox.control.configure(latency_ms=20, fees=["gbp=5+0"])
    sandbox.control.configure_webhooks(duplicate=True, urls=[])
    sandbox.control.reset()
    assert stripe_client.v1.checkout.sessions.list().data == []
    settings = sandbox.control.settings()
    assert settings["latency_ms"] == 0 and settings["fees"]["gbp"] == {"percent": 1.5, "fixed": 20}
    hooks = sandbox.control.webhooks()
    assert hooks["duplicate"] is False and len(hooks["urls"]) == 1  # as started


def test_customer_and_prices_products(stripe_client, subscribed):
    sub = stripe_client.v1.subscriptions.retrieve(subscribed)
    customer = stripe_client.v1.customers.retrieve(sub.customer)
    assert customer.email == "m@example.org"
    product = stripe_client.v1.products.create(params={"name": "Monthly gift"})
    price = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "gbp",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }  # fmt: skip
    )
    assert stripe_client.v1.prices.retrieve(price.id).recurring.interval == "month"
    link = stripe_client.v1.payment_links.create(params={"line_items": [{"price": price.id, "quantity": 1}]})
    assert stripe_client.v1.payment_links.retrieve(link.id).url.startswith("http")


def test_payment_link_visit_opens_a_checkout_session(stripe_client, sandbox):
    price = stripe_client.v1.prices.create(
        params={"product_data": {"name": "Surge appeal"}, "currency": "gbp", "unit_amount": 1000}
    )
    link = stripe_client.v1.payment_links.create(
        params={
            "line_items": [{"price": price.id, "quantity": 1}],
            "metadata": {"appeal_id": "surge"},
            "payment_intent_data": {"metadata": {"appeal_id": "surge"}},
        }
    )
    visit = requests.get(link.url, allow_redirects=False, timeout=5)
    assert visit.status_code == 303 and "/c/pay/cs_test_" in visit.headers["Location"]
    (session,) = stripe_client.v1.checkout.sessions.list(params={"payment_link": link.id}).data
    assert (session.amount_total, session.metadata.to_dict()) == (1000, {"appeal_id": "surge"})
    sandbox.control.complete_session(session.id)
    pi = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert pi.payment_intent.metadata.to_dict() == {"appeal_id": "surge"}


def test_canceled_subscriptions_are_listed_only_on_request(stripe_client, subscribed):
    assert [s.id for s in stripe_client.v1.subscriptions.list().data] == [subscribed]
    stripe_client.v1.subscriptions.cancel(subscribed)
    assert stripe_client.v1.subscriptions.list().data == []
    everything = stripe_client.v1.subscriptions.list(params={"status": "all"})
    assert [s.id for s in everything.data] == [subscribed]


def test_invoice_payments_only_when_included_or_listed(stripe_client, sandbox, subscribed):
    """``payments`` is includable: absent from events and default responses, as on live Stripe."""
    invoice = sandbox.control.advance_subscription(subscribed)
    assert "payments" not in invoice
    plain = stripe_client.v1.invoices.retrieve(invoice["id"])
    assert "payments" not in plain
    events = stripe_client.v1.events.list(params={"type": "invoice.paid"}).data
    assert events and all("payments" not in e.data.object for e in events)
    included = stripe_client.v1.invoices.retrieve(invoice["id"], params={"expand": ["payments"]})
    (entry,) = included.payments.data
    assert entry.object == "invoice_payment" and entry.invoice == invoice["id"]
    listed = stripe_client.v1.invoices.list(params={"subscription": subscribed, "expand": ["data.payments"]})
    assert all(len(i.payments.data) == 1 for i in listed.data)

    found = stripe_client.v1.invoice_payments.list(params={"invoice": invoice["id"]})
    (payment,) = found.data
    assert (payment.status, payment.amount_paid, payment.payment.type) == (
        "paid",
        invoice["amount_paid"],
        "payment_intent",
    )
    intent = payment.payment.payment_intent
    by_intent = stripe_client.v1.invoice_payments.list(
        params={
            "payment": {"type": "payment_intent", "payment_intent": intent},
            "expand": ["data.payment.payment_intent"],
        }
    )
    assert [p.id for p in by_intent.data] == [payment.id]
    assert by_intent.data[0].payment.payment_intent.status == "succeeded"
    assert (
        stripe_client.v1.invoice_payments.list(params={"invoice": invoice["id"], "status": "open"}).data == []
    )
    assert stripe_client.v1.invoice_payments.retrieve(payment.id).id == payment.id


def test_events_list_takes_at_most_20_types(stripe_client):
    types = [f"charge.type_{n}" for n in range(21)]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.events.list(params={"types": types})
    assert refused.value.param == "types"
    assert stripe_client.v1.events.list(params={"types": types[:20]}).data == []
