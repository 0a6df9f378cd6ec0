"""POST /webhooks/stripe: what is verified, what is stored, and what Stripe is told."""

from __future__ import annotations

import json
import time

import pytest

from service import extensions
from service.ledger.signature import SignatureError, verify_signature
from service.ledger.views import rejections
from tests.support.settings import TEST_WEBHOOK_SECRET

from . import payloads

OTHER_SECRET = "whsec_rotated_in_secret"


def unused_event() -> dict:
    return payloads.event("product.created", {"id": "prod_123", "object": "product", "metadata": {}})


def test_unused_event_type_is_acknowledged_and_stored_as_ignored(client, ledger):
    evt = unused_event()
    response = payloads.post(client, evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored"
    stored = ledger.event(evt["id"])
    assert (stored.type, stored.outcome, stored.api_version, stored.livemode) == (
        "product.created", "ignored", evt["api_version"], False,
    )  # fmt: skip
    assert json.loads(stored.payload) == evt
    assert stored.object_id == "prod_123"


def test_payload_is_stored_byte_for_byte(client, ledger):
    evt = unused_event()
    payload = payloads.body(evt)
    client.post("/webhooks/stripe", data=payload, headers=payloads.headers(payload))
    assert ledger.event(evt["id"]).payload.encode("utf-8") == payload


def test_sequential_duplicate_deliveries_are_counted_not_reprocessed(client, ledger):
    evt = unused_event()
    first = payloads.post(client, evt)
    second = payloads.post(client, evt)
    assert first.status_code == second.status_code == 200
    assert second.get_json()["duplicate"] is True
    (stored,) = ledger.events()
    assert stored.delivery_count == 2


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        (lambda body: {}, "missing_header"),
        (lambda body: {"Stripe-Signature": "garbage"}, "malformed_header"),
        (lambda body: {"Stripe-Signature": "t=abc,v1=00"}, "malformed_header"),
        (lambda body: {"Stripe-Signature": f"t={int(time.time())}"}, "no_v1_signature"),
        (lambda body: payloads.headers(body, secrets=("whsec_wrong",)), "no_matching_signature"),
        (lambda body: payloads.headers(body, at=time.time() - 301), "timestamp_too_old"),
        # A minute past the 300 s tolerance, not one second: the request is verified later than the
        # header is signed, and on a loaded machine more than a second later (the exact boundary is
        # test_timestamps_just_outside_the_tolerance_do_not's, with a fixed clock).
        (lambda body: payloads.headers(body, at=time.time() + 360), "timestamp_in_future"),
        (lambda body: payloads.headers(body + b" "), "no_matching_signature"),  # tampered body
    ],
    ids=["missing", "malformed", "bad-timestamp", "no-v1", "wrong-secret", "old", "future", "tampered"],
)
def test_unverifiable_delivery_is_400_counted_and_not_stored(client, app, ledger, make_headers, reason):
    payload = payloads.body(unused_event())
    response = client.post("/webhooks/stripe", data=payload, headers=make_headers(payload))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert ledger.events() == []
    assert rejections(app).counts[reason] == 1


@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_inside_the_tolerance_verify(offset):
    body = b'{"id": "evt_1"}'
    now = 1_800_000_000
    header = payloads.headers(body, at=now + offset)["Stripe-Signature"]
    assert verify_signature(body, header, [TEST_WEBHOOK_SECRET], now=now) == now + offset


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamps_just_outside_the_tolerance_do_not(offset):
    body = b'{"id": "evt_1"}'
    now = 1_800_000_000
    header = payloads.headers(body, at=now + offset)["Stripe-Signature"]
    with pytest.raises(SignatureError):
        verify_signature(body, header, [TEST_WEBHOOK_SECRET], now=now)


@pytest.mark.parametrize("signing_secret", [TEST_WEBHOOK_SECRET, OTHER_SECRET])
def test_either_secret_verifies_during_a_rotation(make_app, sandbox, signing_secret):
    own = make_app(stripe_webhook_secrets=(TEST_WEBHOOK_SECRET, OTHER_SECRET))
    evt = unused_event()
    payload = payloads.body(evt)
    response = own.test_client().post(
        "/webhooks/stripe", data=payload, headers=payloads.headers(payload, secrets=(signing_secret,))
    )
    assert response.status_code == 200


def test_header_with_one_signature_per_secret_verifies(client):
    evt = unused_event()
    payload = payloads.body(evt)
    headers = payloads.headers(payload, secrets=("whsec_retired", TEST_WEBHOOK_SECRET))
    assert client.post("/webhooks/stripe", data=payload, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"not json at all",
        b"[1, 2, 3]",
        b'{"type": "x"}',
        b'{"id": "evt_1"}',
        b'{"id": "evt_1", "type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not-utf8", "not-json", "not-object", "no-id", "no-type", "nested-past-the-parser"],
)
def test_signed_body_that_is_not_an_event_is_400_never_500(client, ledger, payload):
    response = client.post("/webhooks/stripe", data=payload, headers=payloads.headers(payload))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_event"
    assert ledger.events() == []


def test_trailing_slash_is_not_redirected(client):
    evt = unused_event()
    payload = payloads.body(evt)
    response = client.post("/webhooks/stripe/", data=payload, headers=payloads.headers(payload))
    assert response.status_code == 200


def test_event_larger_than_the_form_limit_is_accepted(client):
    evt = unused_event()
    evt["data"]["object"]["description"] = "x" * 100_000
    assert payloads.post(client, evt).status_code == 200


def test_database_unavailable_answers_503_quickly_and_stores_nothing(make_app, sandbox, ledger):
    client = make_app(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none").test_client()
    started = time.monotonic()
    response = payloads.post(client, unused_event())
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert time.monotonic() - started < 3
    assert ledger.events() == []


def test_database_lost_after_start_up_answers_503(make_app, ledger):
    from sqlalchemy import create_engine

    own = make_app()
    # The app started fine; then its database went away (the engine now points at nothing).
    extensions.database(own).sessionmaker.configure(
        bind=create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    )
    assert payloads.post(own.test_client(), unused_event()).status_code == 503
    extensions.database(own).engine.dispose()
