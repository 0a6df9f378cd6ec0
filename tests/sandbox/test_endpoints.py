"""Every read endpoint answers through stripe-python with the right object and filters."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def world(stripe_client, sandbox, donation, monthly):
    """One paid donation (refunded in part, disputed) and one monthly gift."""
    one_off = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(one_off.id, email="once@example.org")
    pi = stripe_client.v1.checkout.sessions.retrieve(one_off.id).payment_intent
    charge = stripe_client.v1.payment_intents.retrieve(pi).latest_charge
    refund = stripe_client.v1.refunds.create(params={"charge": charge, "amount": 100})
    dispute = sandbox.control.open_dispute(charge, amount=400)
    regular = stripe_client.v1.checkout.sessions.create(params=monthly())
    sandbox.control.complete_session(regular.id, email="monthly@example.org")
    sub = stripe_client.v1.checkout.sessions.retrieve(regular.id)
    return {"pi": pi, "charge": charge, "refund": refund.id, "dispute": dispute["id"],
            "sub": sub.subscription, "invoice": sub.invoice, "customer": sub.customer}  # fmt: skip


def test_payment_intents(stripe_client, world):
    listed = stripe_client.v1.payment_intents.list()
    assert len(listed.data) == 2 and all(p.object == "payment_intent" for p in listed.data)
    by_customer = stripe_client.v1.payment_intents.list(params={"customer": world["customer"]})
    assert len(by_customer.data) == 1 and by_customer.data[0].id != world["pi"]
    assert stripe_client.v1.payment_intents.retrieve(world["pi"]).amount_received == 500


def test_charges(stripe_client, world):
    (charge,) = stripe_client.v1.charges.list(params={"payment_intent": world["pi"]}).data
    assert charge.id == world["charge"]
    got = stripe_client.v1.charges.retrieve(world["charge"])
    assert (got.amount_refunded, got.disputed, got.paid) == (100, True, True)
    assert got.payment_method_details.card.last4 == "4242"


def test_refunds_and_disputes(stripe_client, world):
    (refund,) = stripe_client.v1.refunds.list(params={"payment_intent": world["pi"]}).data
    assert refund.id == world["refund"] and refund.amount == 100
    (dispute,) = stripe_client.v1.disputes.list(params={"charge": world["charge"]}).data
    assert dispute.id == world["dispute"] and dispute.amount == 400
    assert stripe_client.v1.disputes.retrieve(world["dispute"]).reason == "fraudulent"


def test_balance_transactions_by_type_and_source(stripe_client, world):
    types = sorted(t.type for t in stripe_client.v1.balance_transactions.list().data)
    assert types == ["adjustment", "charge", "charge", "refund"]
    (adjustment,) = stripe_client.v1.balance_transactions.list(params={"type": "adjustment"}).data
    assert (adjustment.amount, adjustment.fee, adjustment.source) == (-400, 2000, world["dispute"])
    usd = stripe_client.v1.balance_transactions.list(params={"currency": "usd"})
    assert usd.data == []


def test_customers_subscriptions_invoices(stripe_client, world):
    assert stripe_client.v1.customers.retrieve(world["customer"]).email == "monthly@example.org"
    (customer,) = stripe_client.v1.customers.list(params={"email": "monthly@example.org"}).data
    assert customer.id == world["customer"]
    sub = stripe_client.v1.subscriptions.retrieve(world["sub"])
    assert sub.customer == world["customer"] and sub.latest_invoice == world["invoice"]
    inv = stripe_client.v1.invoices.retrieve(world["invoice"])
    assert (inv.customer, inv.total, inv.currency) == (world["customer"], 500, "gbp")
    assert inv.lines.data[0].parent.subscription_item_details.subscription == world["sub"]
    assert stripe_client.v1.invoices.list(params={"customer": world["customer"]}).data[0].id == inv.id


def test_products_and_prices_made_from_price_data(stripe_client, world):
    latest = stripe_client.v1.checkout.sessions.list(params={"limit": 1}).data[0]
    items = stripe_client.v1.checkout.sessions.line_items.list(latest.id)
    price = stripe_client.v1.prices.retrieve(items.data[0].price.id)
    assert price.active is False  # inline prices are archived, as in Stripe
    product = stripe_client.v1.products.retrieve(price.product)
    assert product.name == "Gaza emergency appeal"


def test_missing_objects_are_404_for_each_kind(stripe_client):
    for call in (
        lambda: stripe_client.v1.payment_intents.retrieve("pi_nope"),
        lambda: stripe_client.v1.charges.retrieve("ch_nope"),
        lambda: stripe_client.v1.refunds.retrieve("re_nope"),
        lambda: stripe_client.v1.balance_transactions.retrieve("txn_nope"),
        lambda: stripe_client.v1.payouts.retrieve("po_nope"),
        lambda: stripe_client.v1.subscriptions.retrieve("sub_nope"),
        lambda: stripe_client.v1.invoices.retrieve("in_nope"),
        lambda: stripe_client.v1.events.retrieve("evt_nope"),
        lambda: stripe_client.v1.customers.retrieve("cus_nope"),
        lambda: stripe_client.v1.disputes.retrieve("dp_nope"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert (info.value.http_status, info.value.code) == (404, "resource_missing")
