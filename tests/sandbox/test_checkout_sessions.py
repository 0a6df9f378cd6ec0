"""Checkout Sessions through the real stripe-python client."""

from __future__ import annotations

import time

import pytest
import requests
import stripe


def test_create_payment_session_has_stripe_shape(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.url == f"{sandbox.base_url}/c/pay/{session.id}"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.currency) == (500, "gbp")
    assert session.metadata.to_dict() == {"appeal_id": "gaza-2026"}
    assert session.client_reference_id == "donation-123"
    assert session.payment_intent is None  # created when the donor pays, as Checkout does
    assert 86_300 < session.expires_at - session.created <= 86_400
    assert session.livemode is False


def test_retrieve_and_expand_payment_chain(stripe_client, sandbox, donation):
    params = donation(payment_intent_data={"metadata": {"appeal_id": "gaza-2026"}})
    session = stripe_client.v1.checkout.sessions.create(params=params)
    sandbox.control.complete_session(session.id, email="donor@example.org")
    got = stripe_client.v1.checkout.sessions.retrieve(
        session.id,
        params={"expand": ["payment_intent.latest_charge.balance_transaction", "line_items"]},
    )
    assert (got.status, got.payment_status, got.url) == ("complete", "paid", None)
    assert got.customer_details.email == "donor@example.org"
    pi = got.payment_intent
    assert pi.status == "succeeded" and pi.metadata.to_dict() == {"appeal_id": "gaza-2026"}
    txn = pi.latest_charge.balance_transaction
    assert (txn.amount, txn.fee, txn.net, txn.type) == (500, 28, 472, "charge")  # 1.5% + 20p
    assert txn.fee_details[0].type == "stripe_fee"
    assert got.line_items.data[0].description == "Gaza emergency appeal"


def test_line_items_endpoint(stripe_client, donation):
    params = donation()
    params["line_items"].append(
        {"quantity": 2, "price_data": {"currency": "gbp", "unit_amount": 250,
                                       "product_data": {"name": "Extra"}}}
    )  # fmt: skip
    session = stripe_client.v1.checkout.sessions.create(params=params)
    assert session.amount_total == 1000
    items = stripe_client.v1.checkout.sessions.line_items.list(session.id, params={"limit": 1})
    assert items.has_more is True and items.data[0].description == "Gaza emergency appeal"
    assert items.data[0].price.unit_amount == 500


def test_list_sessions_with_filters(stripe_client, sandbox, donation):
    first = stripe_client.v1.checkout.sessions.create(params=donation())
    second = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(second.id)
    paid = stripe_client.v1.checkout.sessions.retrieve(second.id)
    by_pi = stripe_client.v1.checkout.sessions.list(params={"payment_intent": paid.payment_intent})
    assert [s.id for s in by_pi.data] == [second.id]
    opened = stripe_client.v1.checkout.sessions.list(params={"status": "open"})
    assert [s.id for s in opened.data] == [first.id]
    listed = stripe_client.v1.checkout.sessions.list()
    assert [s.id for s in listed.data] == [second.id, first.id]  # newest first
    assert listed.url == "/v1/checkout/sessions"


def test_expire_session(stripe_client, webhook_receiver, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert webhook_receiver.wait_for(lambda: "checkout.session.expired" in webhook_receiver.types())


def test_session_past_expires_at_expires_on_access(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.state.store.get(session.id)["expires_at"] = int(time.time()) - 1
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert requests.get(session.url, timeout=5).status_code == 410


def test_sessions_expire_by_themselves(stripe_client, sandbox, webhook_receiver, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    past = int(time.time()) - 1
    with sandbox.state.store.lock:
        sandbox.state.store.get(session.id)["expires_at"] = past
        sandbox.state.store.table("open_sessions")[session.id] = past
    # Nobody looks at the session: the sweeper expires it and the webhook says so.
    assert webhook_receiver.wait_for(
        lambda: "checkout.session.expired" in webhook_receiver.types(), timeout=5
    )


def test_subscription_session_creates_customer_subscription_invoice(stripe_client, sandbox, monthly):
    session = stripe_client.v1.checkout.sessions.create(params=monthly())
    assert session.mode == "subscription"
    sandbox.control.complete_session(session.id, email="monthly@example.org")
    got = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription", "invoice", "customer"]}
    )
    assert got.customer.email == "monthly@example.org"
    sub = got.subscription
    assert sub.status == "active" and sub.metadata.to_dict() == {"appeal_id": "gaza-2026"}
    assert sub["items"].data[0].price.recurring.interval == "month"
    inv = got.invoice
    assert (inv.status, inv.billing_reason, inv.amount_paid) == ("paid", "subscription_create", 500)
    assert inv.parent.subscription_details.subscription == sub.id
    assert "payments" not in inv  # includable: live Stripe leaves it out unless asked for
    (payment,) = stripe_client.v1.invoice_payments.list(params={"invoice": inv.id}).data
    assert payment.payment.type == "payment_intent"
    invoices = stripe_client.v1.invoices.list(params={"subscription": sub.id})
    assert [i.id for i in invoices.data] == [inv.id]


def test_session_metadata_reaches_subscription_and_payment_intent(stripe_client, sandbox, donation):
    params = donation(
        payment_intent_data={
            "metadata": {"appeal_id": "gaza-2026"},
            "on_behalf_of": "acct_1Partner",
            "transfer_data": {"destination": "acct_1Partner"},
        }
    )
    session = stripe_client.v1.checkout.sessions.create(params=params)
    sandbox.control.complete_session(session.id)
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    pi = stripe_client.v1.payment_intents.retrieve(pi_id)
    assert pi.on_behalf_of == "acct_1Partner"
    assert pi.transfer_data.destination == "acct_1Partner"
