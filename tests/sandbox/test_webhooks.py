"""Events: stored, listable, signed, delivered with retries; delivery switches."""

from __future__ import annotations

import stripe

WEBHOOK_SECRET = "whsec_test_receiver"  # the receiver's secret (conftest.py)


def _pay(stripe_client, sandbox, donation, **kw):
    session = stripe_client.v1.checkout.sessions.create(params=donation(**kw))
    sandbox.control.complete_session(session.id)
    return session


def test_payment_events_are_signed_and_verified(stripe_client, sandbox, webhook_receiver, donation):
    _pay(stripe_client, sandbox, donation)
    expected = {
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
        "charge.updated", "checkout.session.completed",
    }  # fmt: skip
    assert webhook_receiver.wait_for(lambda: expected <= set(webhook_receiver.types()))
    assert webhook_receiver.rejected == []
    headers, _ = webhook_receiver.raw[0]
    assert headers["Stripe-Signature"].startswith("t=")
    assert "v1=" in headers["Stripe-Signature"]


def test_event_shape_follows_stripe(stripe_client, sandbox, webhook_receiver, donation):
    session = _pay(stripe_client, sandbox, donation)
    events = stripe_client.v1.events.list(params={"type": "checkout.session.completed"})
    (event,) = events.data
    assert event.id.startswith("evt_") and event.object == "event"
    assert event.api_version == "2026-10-28.endive"
    assert event.livemode is False
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert event.request.id is None  # caused by a control, not an API request
    updated = stripe_client.v1.events.list(params={"type": "charge.updated"}).data[0]
    assert updated.data.previous_attributes.balance_transaction is None
    assert updated.data.object.balance_transaction.startswith("txn_")
    got = stripe_client.v1.events.retrieve(event.id)
    assert got.type == "checkout.session.completed"


def test_event_records_the_api_request_that_caused_it(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    expired = stripe_client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": "expire-1"})
    (event,) = stripe_client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert event.request.id == expired.last_response.request_id
    assert event.request.idempotency_key == "expire-1"
    assert event.data.previous_attributes.status == "open"


def test_event_list_filters(stripe_client, sandbox, donation):
    _pay(stripe_client, sandbox, donation)
    types = {e.type for e in stripe_client.v1.events.list(params={"type": "charge.*"}).data}
    assert types == {"charge.succeeded", "charge.updated"}
    several = stripe_client.v1.events.list(
        params={"types": ["payment_intent.succeeded", "checkout.session.completed"]}
    )
    assert {e.type for e in several.data} == {
        "payment_intent.succeeded",
        "checkout.session.completed",
    }
    created = several.data[0].created
    assert len(stripe_client.v1.events.list(params={"created": {"gt": created}}).data) == 0


def test_failed_deliveries_are_retried(stripe_client, sandbox, webhook_receiver, donation):
    webhook_receiver.fail_next(2)
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(session.id)
    assert sandbox.control.wait_for_webhooks(timeout=5)
    (event,) = stripe_client.v1.events.list(params={"type": "checkout.session.expired"}).data
    attempts = sandbox.control.webhook_attempts(event.id)
    assert [a["ok"] for a in attempts] == [False, False, True]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0
    assert webhook_receiver.types() == ["checkout.session.expired"]


def test_delivery_success_filter(stripe_client, sandbox, webhook_receiver, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(session.id)
    sandbox.control.wait_for_webhooks(timeout=5)
    # Now point at a port where nothing listens: every attempt fails.
    sandbox.control.configure_webhooks(urls=["http://127.0.0.1:9/hook"])
    other = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(other.id)
    assert sandbox.control.wait_for_webhooks(timeout=10)
    failed = stripe_client.v1.events.list(params={"delivery_success": False})
    assert [e.data.object.id for e in failed.data] == [other.id]
    assert failed.data[0].pending_webhooks == 1
    ok = stripe_client.v1.events.list(params={"delivery_success": True})
    assert [e.data.object.id for e in ok.data] == [session.id]


def test_duplicate_switch_sends_each_event_twice(stripe_client, sandbox, webhook_receiver, donation):
    sandbox.control.configure_webhooks(duplicate=True)
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(session.id)
    assert webhook_receiver.wait_for(lambda: len(webhook_receiver.events) == 2)
    assert webhook_receiver.events[0]["id"] == webhook_receiver.events[1]["id"]


def test_secret_rotation_signs_with_every_secret(stripe_client, sandbox, webhook_receiver, donation):
    sandbox.control.configure_webhooks(secrets=["whsec_old", WEBHOOK_SECRET])
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(session.id)
    assert webhook_receiver.wait_for(lambda: len(webhook_receiver.events) == 1)
    headers, body = webhook_receiver.raw[0]
    assert headers["Stripe-Signature"].count("v1=") == 2
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_old")
    assert event.type == "checkout.session.expired"


def test_out_of_order_and_delay_switches(stripe_client, sandbox, webhook_receiver, donation):
    state = sandbox.control.configure_webhooks(out_of_order=True, delay=0.1)
    assert (state["out_of_order"], state["delay"]) == (True, 0.1)
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id)
    assert sandbox.control.wait_for_webhooks(timeout=5)
    stored = [e.type for e in reversed(stripe_client.v1.events.list().data)]
    assert webhook_receiver.wait_for(lambda: len(webhook_receiver.events) == len(stored))
    # Arrival order is up to the delivery workers; every event still arrives once.
    assert sorted(webhook_receiver.types()) == sorted(stored)
