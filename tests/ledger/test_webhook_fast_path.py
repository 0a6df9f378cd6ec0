"""Stripe deliveries stored and answered before Flask (service/ledger/fast_path.py:
``WebhookFastPath``) are the view's answers: the same status, body and headers, the same access
line, the same metrics; and every delivery it does not fully handle reaches the view untouched.

The fast path works only while the apply job goes to a worker's queue (as in production), so these
tests use an app whose jobs go to a Redis queue of their own, which no worker reads.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from werkzeug.test import Client

from service import extensions
from service.ledger import receiving, views
from service.ledger.fast_path import ENDPOINT, PATH, WebhookFastPath
from tests.support.flask_requests import requests_flask_handled
from tests.support.log_lines import lines_written
from tests.support.worker import REDIS_URL

from . import payloads

# Set per request, so never equal between two answers or two lines.
PER_REQUEST_HEADERS = {"X-Request-Id", "Date"}
PER_REQUEST_FIELDS = {"time", "elapsed_ms", "request_id"}


@pytest.fixture
def queued_app(app: Flask, make_app: Any) -> Iterator[Flask]:
    """The app with jobs on a Redis queue of its own (nothing takes them: they stay `received`)."""
    built = make_app(
        redis_url=REDIS_URL, jobs_in_process=False, deployment_id=f"test-fast-{secrets.token_hex(4)}"
    )
    yield built
    from service.jobs import huey, init_jobs

    huey.storage.flush_all()
    init_jobs(app, extensions.settings(app))  # back to in-process jobs for the other tests


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """The access lines as written: formatted when logged (inside Flask's request context, where
    the formatter adds the request id itself), redacted as the app's handler does."""
    with lines_written("service.access") as written:
        yield written


@pytest.fixture
def flask_requests(queued_app: Flask) -> Iterator[list[str]]:
    """Paths of the requests Flask itself handled (the fast path sends none of its own there)."""
    with requests_flask_handled(queued_app) as seen:
        yield seen


def fast_path(app: Flask) -> WebhookFastPath:
    layer = app.wsgi_app
    while not isinstance(layer, WebhookFastPath):
        layer = layer.wsgi_app  # type: ignore[attr-defined]
    return layer


def view_client(app: Flask) -> Client:
    """A client for the app without the webhook fast path: every delivery reaches the view."""
    return Client(fast_path(app).wsgi_app)


def comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body bytes and headers in their order, but for what differs per request or event."""
    headers = [(k, v) for k, v in response.headers.items() if k not in PER_REQUEST_HEADERS]
    data, body = response.get_data(), response.get_json(silent=True)
    if isinstance(body, dict) and "event" in body:
        data = data.replace(body["event"].encode(), b"evt_")  # deliveries of different events
    if isinstance(body, dict) and "error" in body:
        data = data.replace(body["error"]["request_id"].encode(), b"req_")  # as X-Request-Id
    return response.status_code, data, headers


def delivered(client: Any, evt: dict[str, Any], **headers: str) -> Any:
    payload = payloads.body(evt)
    return client.post(PATH, data=payload, headers={**payloads.headers(payload), **headers})


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def unused() -> dict[str, Any]:
    return payloads.event("product.created", {"id": "prod_123", "object": "product", "metadata": {}})


def completed() -> dict[str, Any]:
    # A session our deployment did not make: stored and queued all the same, applied by the worker.
    return payloads.event("checkout.session.completed", {"id": "cs_test_1", "object": "checkout.session"})


def test_a_new_delivery_is_answered_logged_and_counted_as_the_view_does(
    queued_app: Flask, ledger: Any, flask_requests: list[str]
) -> None:
    requests = (
        "donation_router_http_requests_total",
        {"method": "POST", "endpoint": ENDPOINT, "status": "200"},
    )
    deliveries = (
        "donation_router_webhook_deliveries_total",
        {"type": "checkout.session.completed", "outcome": "received"},
    )
    seconds = ("donation_router_http_request_duration_seconds_count", {"endpoint": ENDPOINT})
    counted = [sample(name, **labels) for name, labels in (requests, deliveries, seconds)]

    by_view = delivered(view_client(queued_app), completed(), **{"X-Request-Id": "req-from-the-proxy-1"})
    assert flask_requests == [PATH]
    flask_requests.clear()
    evt = completed()
    fast = delivered(queued_app.test_client(), evt, **{"X-Request-Id": "req-from-the-proxy-2"})
    assert flask_requests == []  # answered before Flask

    assert comparable(fast) == comparable(by_view)
    assert fast.status_code == 200
    assert fast.get_json() == {
        "received": True,
        "event": evt["id"],
        "outcome": "received",
        "duplicate": False,
    }
    assert fast.headers["X-Request-Id"] == "req-from-the-proxy-2"
    # Both counted alike: one request, one delivery, one duration each.
    assert [sample(name, **labels) for name, labels in (requests, deliveries, seconds)] == [
        c + 2 for c in counted
    ]
    stored = ledger.event(evt["id"])
    assert (stored.outcome, stored.delivery_count) == ("received", 1)
    assert stored.payload.encode() == payloads.body(evt)
    from service.jobs import huey

    assert huey.pending_count() == 2  # both handed to the queue


def parsed(line: str) -> list[tuple[str, Any]]:
    """The line's fields in their order, without those that differ per request or per event."""
    return [
        (key, "evt_" if key == "stripe_event_id" else value)
        for key, value in json.loads(line).items()
        if key not in PER_REQUEST_FIELDS
    ]


@pytest.mark.parametrize("request_id", ["req-from-the-proxy-1", None])
def test_the_access_line_is_the_views_line(
    queued_app: Flask, access_lines: list[str], request_id: str | None
) -> None:
    headers = {"X-Request-Id": request_id} if request_id else {}
    by_view = delivered(view_client(queued_app), completed(), **headers)
    evt = completed()
    fast = delivered(queued_app.test_client(), evt, **headers)
    view_line, fast_line = access_lines
    assert list(json.loads(fast_line)) == list(json.loads(view_line))  # the same fields, in order
    assert parsed(fast_line) == parsed(view_line)
    fields = json.loads(fast_line)
    assert fields["request_id"] == fast.headers["X-Request-Id"]
    assert json.loads(view_line)["request_id"] == by_view.headers["X-Request-Id"]
    if request_id:
        assert fields["request_id"] == request_id
    assert (fields["event"], fields["status"], fields["path"]) == ("request", 200, PATH)
    assert (fields["stripe_event_id"], fields["outcome"], fields["duplicate"]) == (
        evt["id"],
        "received",
        False,
    )


def apply_stored(app: Flask, event_id: str) -> None:
    """What the worker does with a queued event (here in the test, with no worker running)."""
    with app.app_context():
        receiving.apply_stored(
            extensions.database(app).sessionmaker,
            extensions.stripe_gateway(app),
            extensions.settings(app),
            event_id,
        )


@pytest.mark.parametrize("stored", ["received", "ignored", "applied"])
def test_a_redelivery_is_answered_and_logged_as_the_view_does(
    queued_app: Flask, ledger: Any, flask_requests: list[str], access_lines: list[str], stored: str
) -> None:
    evt = unused() if stored == "ignored" else completed()
    client = queued_app.test_client()
    first = delivered(client, evt)
    assert first.status_code == 200
    if stored == "applied":
        apply_stored(queued_app, evt["id"])
    outcome = ledger.event(evt["id"]).outcome
    flask_requests.clear()
    access_lines.clear()
    by_view = delivered(view_client(queued_app), evt)
    fast = delivered(client, evt)
    assert flask_requests == [PATH]  # the view's only
    assert comparable(fast) == comparable(by_view)
    assert fast.get_json() == {"received": True, "event": evt["id"], "outcome": outcome, "duplicate": True}
    assert parsed(access_lines[1]) == parsed(access_lines[0])
    assert ledger.event(evt["id"]).delivery_count == 3


def test_unused_event_types_are_stored_as_ignored_on_the_fast_path(
    queued_app: Flask, ledger: Any, flask_requests: list[str]
) -> None:
    evt = unused()
    by_view = delivered(view_client(queued_app), unused())
    fast = delivered(queued_app.test_client(), evt)
    assert flask_requests == [PATH]
    assert comparable(fast) == comparable(by_view)
    assert fast.get_json()["outcome"] == "ignored"
    assert ledger.event(evt["id"]).outcome_reason == "event_type_not_used"


def tampered(client: Any) -> Any:
    payload = payloads.body(unused())
    return client.post(PATH, data=payload + b" ", headers=payloads.headers(payload))


def not_an_event(client: Any) -> Any:
    payload = b'{"type": "x"}'
    return client.post(PATH, data=payload, headers=payloads.headers(payload))


def with_cookie(client: Any) -> Any:
    client.set_cookie("session", "abc")  # the client sends its own jar's, not a Cookie header
    return delivered(client, unused())


def with_query(client: Any) -> Any:
    payload = payloads.body(unused())
    return client.post(PATH + "?x=1", data=payload, headers=payloads.headers(payload))


def form_encoded(client: Any) -> Any:
    # An event, but sent as a form: the request hooks count its fields ("&") and refuse it.
    evt = unused()
    evt["data"]["object"]["description"] = "&" * 100
    payload = payloads.body(evt)
    headers = {**payloads.headers(payload), "Content-Type": "application/x-www-form-urlencoded"}
    return client.post(PATH, data=payload, headers=headers)


def trailing_slash(client: Any) -> Any:
    payload = payloads.body(unused())
    return client.post(PATH + "/", data=payload, headers=payloads.headers(payload))


def secret_shaped_request_id(client: Any) -> Any:
    return delivered(client, unused(), **{"X-Request-Id": "whsec_abcdefgh12345678"})


def too_many_headers(client: Any) -> Any:
    return delivered(client, unused(), **{f"X-Padding-{i}": "x" for i in range(100)})


def too_long_a_header(client: Any) -> Any:
    return delivered(client, unused(), **{"X-Padding": "x" * 8190})


def chunked(client: Any) -> Any:
    payload = payloads.body(unused())
    return client.post(
        PATH, input_stream=io.BytesIO(payload),
        headers={**payloads.headers(payload), "Transfer-Encoding": "chunked"},
    )  # fmt: skip


def too_large(client: Any) -> Any:
    payload = b" " * (1024 * 1024 + 1)
    return client.post(PATH, data=payload, headers=payloads.headers(payload))


@pytest.mark.parametrize(
    "send",
    [tampered, not_an_event, with_cookie, with_query, form_encoded, trailing_slash,
     too_many_headers, too_long_a_header, chunked, too_large],
)  # fmt: skip
def test_what_the_fast_path_does_not_handle_reaches_the_view_untouched(
    queued_app: Flask, flask_requests: list[str], access_lines: list[str], send: Any
) -> None:
    by_view = send(view_client(queued_app))
    flask_requests.clear()
    access_lines.clear()
    answered = send(queued_app.test_client())
    assert flask_requests  # Flask answered it
    assert comparable(answered) == comparable(by_view)
    assert len(access_lines) == 1


def test_a_request_id_shaped_like_a_secret_is_replaced_by_the_view_and_the_fast_path_alike(
    queued_app: Flask, flask_requests: list[str], access_lines: list[str]
) -> None:
    # The id goes into every log line of the request: one a secret scanner would flag is never
    # echoed, whoever sent it (service/http_hooks.py: request_id).
    for send_through, by_flask in ((view_client(queued_app), True), (queued_app.test_client(), False)):
        flask_requests.clear()
        access_lines.clear()
        response = secret_shaped_request_id(send_through)
        assert response.status_code == 200
        assert bool(flask_requests) is by_flask
        assert response.headers["X-Request-Id"].startswith("req_")
        assert json.loads(access_lines[0])["request_id"] == response.headers["X-Request-Id"]
        assert "whsec_" not in "".join(access_lines)


def test_a_database_failure_is_the_views_503_after_one_attempt(
    queued_app: Flask, ledger: Any, flask_requests: list[str], access_lines: list[str], monkeypatch: Any
) -> None:
    from sqlalchemy import create_engine

    attempts: list[str] = []
    real = receiving.receive

    def counted(*args: Any) -> Any:
        attempts.append("store")
        return real(*args)

    monkeypatch.setattr(receiving, "receive", counted)
    monkeypatch.setattr(views, "receive", counted)
    # The app started fine; then its database went away (the engine now points at nothing).
    sessions = extensions.database(queued_app).sessionmaker
    engine = sessions.kw["bind"]
    sessions.configure(bind=create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x"))
    try:
        response = delivered(queued_app.test_client(), unused())
    finally:
        sessions.configure(bind=engine)
    assert flask_requests == [PATH]  # the view answered
    assert attempts == ["store"]  # once, by the fast path: the view answered its failure
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"]
    assert ledger.events() == []
    assert json.loads(access_lines[0])["status"] == 503


def test_in_immediate_mode_every_delivery_is_the_views(app: Flask, client: Any) -> None:
    """Without a worker the job runs in the request and the answer is the applied outcome (or the
    500 that asks Stripe to deliver again): only the view answers."""
    with requests_flask_handled(app) as seen:
        response = delivered(client, unused())
    assert response.status_code == 200
    assert seen == [PATH]


def test_production_answers_carry_hsts_after_the_other_headers(queued_app: Flask) -> None:
    layer = fast_path(queued_app)
    layer.base_headers = WebhookFastPath(queued_app, layer.wsgi_app, production=True).base_headers
    fast = delivered(queued_app.test_client(), completed())
    assert fast.status_code == 200
    assert list(fast.headers.keys())[2:] == [
        "X-Request-Id", "X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security",
    ]  # fmt: skip
    assert fast.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
