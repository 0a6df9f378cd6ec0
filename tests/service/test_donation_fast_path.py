"""Donations answered before Flask (service/api/donation_fast_path.py: ``DonationFastPath``) are the
view's answers: the same status, body and headers in order, the same log lines (the access line
among them) with the request's id, the same metrics, and the database, the donation limits and
the sandbox's recorded Stripe calls end in the same state; and every request it does not fully
answer (a failure inside ``create_donation`` included) is the view's, counted once.

Each case runs twice from the same fresh start (tests/support/apps.py: ``made_fresh``): once with
the fast path taken out of the WSGI chain (Flask alone, ProxyFix and the other layers kept), once
through it; then everything that is not per request (ids, times) is compared.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from service import extensions
from service.api import donations as donations_view
from service.api.donation_fast_path import PATH, DonationFastPath
from service.logging_setup import REQUEST_ID, JsonFormatter, logged_with_request_id
from tests.support import parity
from tests.support.apps import made_fresh
from tests.support.flask_requests import requests_flask_handled
from tests.support.gifts import GIFT, GIFT_AID
from tests.support.log_lines import lines_written
from tests.support.parity import Run, Send, limit_counts

SESSIONS = "/v1/checkout/sessions"


def flask_alone(app: Flask) -> Any:
    """The app with its donation fast path taken out of the WSGI chain, every other layer kept."""
    return parity.without_layer(app, DonationFastPath)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line the service logs, formatted when written (as the app's handler does)."""
    with lines_written("service") as written:
        yield written


def post(body: Any = GIFT, **headers: str) -> Send:
    return lambda client: client.post(PATH, json=body, headers=headers)


def post_raw(data: bytes, content_type: str = "application/json", path: str = PATH, **headers: str) -> Send:
    return lambda client: client.post(path, data=data, headers={"Content-Type": content_type, **headers})


def both_ways(
    app: Flask,
    sandbox: Any,
    log_lines: list[str],
    sends: list[Send],
    prepare: Any = None,
) -> tuple[Run, Run]:
    return parity.both_ways(app, sandbox, log_lines, sends, DonationFastPath, prepare)


# -- the cases ----------------------------------------------------------------------------------


RICH_GIFT = {
    **GIFT,
    "email": "donor@example.org",
    "cover_fees": True,
    "anonymous": True,
    "gift_aid": GIFT_AID,
    "source": {"url": "https://news.example/story?x=1", "utm_source": "news", "utm_campaign": "flood"},
}
OTHER_GIFT = {**GIFT, "amount": 3000}

# (sends, statuses, which of them Flask answers on the fast path's run)
CASES: dict[str, tuple[list[Send], list[int], list[bool]]] = {
    "one_off": ([post()], [201], [False]),
    "monthly": ([post({**GIFT, "frequency": "monthly"})], [201], [False]),
    "rich_gift": ([post(RICH_GIFT)], [201], [False]),
    "currency_in_capitals_and_a_request_id": (
        [post({**GIFT, "currency": "GBP"}, **{"X-Request-Id": "req-from-the-proxy-1"})],
        [201],
        [False],
    ),
    "idempotency_key": ([post(**{"Idempotency-Key": "key-1"})], [201], [False]),
    "key_replayed": ([post(**{"Idempotency-Key": "key-1"})] * 2, [201, 201], [False, False]),
    "key_reused_with_another_body": (
        [post(**{"Idempotency-Key": "key-1"}), post(OTHER_GIFT, **{"Idempotency-Key": "key-1"})],
        [201, 422],
        [False, True],
    ),
    "invalid_key": ([post(**{"Idempotency-Key": "two words"})], [422], [True]),
    "unknown_field": ([post({**GIFT, "amout": 2500})], [422], [True]),
    "typo_amount": ([post({**GIFT, "amount": "25,00"})], [422], [True]),
    "amount_below_the_minimum": ([post({**GIFT, "amount": 1})], [422], [True]),
    "unknown_appeal": ([post({**GIFT, "appeal": "no-such-appeal"})], [422], [True]),
    "not_json": ([post_raw(b'{"appeal": ')], [400], [True]),
    "not_utf8": ([post_raw('{"appeal": "red-cross-ukraine"}'.encode("utf-16"))], [400], [True]),
    "a_list": ([post_raw(b"[1, 2]")], [422], [True]),
    "too_deep": ([post_raw(b"[" * 21 + b"]" * 21)], [400], [True]),
    "wrong_content_type": ([post_raw(json.dumps(GIFT).encode(), "text/plain")], [415], [True]),
    "with_a_query": ([post_raw(json.dumps(GIFT).encode(), path=PATH + "?x=1")], [201], [True]),
    # The session's cookie may open a session: Flask's; any other cookie changes nothing.
    "with_the_session_cookie": ([parity.with_a_cookie(post(), "session")], [201], [True]),
    "with_another_cookie": ([parity.with_a_cookie(post(), "AWSALB")], [201], [False]),
    "trailing_slash": ([post_raw(json.dumps(GIFT).encode(), path=PATH + "/")], [404], [True]),
    "too_many_headers": ([post(**{f"X-Padding-{i}": "x" for i in range(100)})], [431], [True]),
    "json_with_a_charset": (
        [post_raw(json.dumps(GIFT).encode(), "application/json; charset=utf-8")],
        [201],
        [False],
    ),
    "then_a_mistake_then_a_gift": ([post({**GIFT, "amount": 0}), post()], [422, 201], [True, False]),
}


@pytest.mark.parametrize("case", CASES)
def test_the_fast_path_answers_as_the_view_does(
    app: Flask, sandbox: Any, log_lines: list[str], case: str
) -> None:
    sends, statuses, by_flask = CASES[case]
    by_view, fast = both_ways(app, sandbox, log_lines, sends)
    assert fast.statuses == statuses
    assert fast.by_flask == by_flask


def test_an_ordinary_gift_never_reaches_flask_and_is_logged_and_counted_once(
    app: Flask, sandbox: Any, log_lines: list[str]
) -> None:
    by_view, fast = both_ways(app, sandbox, log_lines, [post(**{"X-Request-Id": "req-from-the-proxy-2"})])
    assert fast.by_flask == [False]  # answered before Flask: no view, no hooks
    assert fast.bodies[0]["status"] == "pending"
    assert fast.bodies[0]["checkout_url"].startswith(sandbox.base_url)
    ((_status, _body, headers),) = fast.answers
    assert [name for name, _ in headers] == [
        "Content-Type", "Content-Length", "X-Content-Type-Options", "Referrer-Policy",
    ]  # fmt: skip
    access = fast.raw_lines[0][-1]
    assert (access["event"], access["path"], access["status"]) == ("request", PATH, 201)
    assert access["request_id"] == "req-from-the-proxy-2"
    endpoint = (("endpoint", "donations_api.DonationCreate"),)
    answered = ("donation_router_http_requests_total", (*endpoint, ("method", "POST"), ("status", "201")))
    timed = ("donation_router_http_request_duration_seconds_count", endpoint)
    assert (fast.metrics[answered], fast.metrics[timed]) == (1, 1)
    assert [session for session in fast.stripe if SESSIONS in session and '"POST"' in session]
    assert sum(fast.limits.values()) == 2  # one attempt, in its address's and network's windows


def test_a_gift_past_the_client_limit_is_flasks_429_and_not_counted(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    limited = make_app(rate_limit_donations="2/minute")
    by_view, fast = both_ways(
        limited, sandbox, log_lines, [post(), post(), post(), post({**GIFT, "amount": 0})]
    )
    assert fast.statuses == [201, 201, 429, 429]
    assert fast.by_flask == [False, False, True, True]
    assert fast.bodies[2]["error"]["code"] == "rate_limited"
    assert sum(fast.limits.values()) == 4  # two attempts, each in two windows


def test_behind_a_trusted_proxy_the_limits_count_the_address_it_saw(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    proxied = make_app(rate_limit_donations="1/minute", trusted_proxy_count=1)

    def through(address: str) -> Send:
        return post(**{"X-Forwarded-For": address})

    by_view, fast = both_ways(
        proxied, sandbox, log_lines, [through("203.0.113.7"), through("203.0.113.7"), through("198.51.100.9")]
    )
    assert fast.statuses == [201, 429, 201]
    assert fast.by_flask == [False, True, False]
    assert any("203.0.113.7" in key for key in fast.limits)


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [(500, 503, "payment_provider_unavailable"), (429, 503, "payment_provider_unavailable"),
     (400, 502, "payment_setup_failed")],
)  # fmt: skip
def test_stripe_failing_is_the_views_answer_counted_once(
    make_app: Any, sandbox: Any, log_lines: list[str], status: int, answer: int, code: str
) -> None:
    # No retrying of Stripe's 429s within a wait: their number would depend on the jitter's pauses.
    app = make_app(surge_wait_seconds=0)

    def stripe_fails() -> None:
        sandbox.control.fail_next(count=10, path_prefix=SESSIONS, status=status)

    by_view, fast = both_ways(
        app, sandbox, log_lines, [post(**{"Idempotency-Key": "key-down"})], prepare=stripe_fails
    )
    assert fast.statuses == [answer]
    assert fast.by_flask == [True]  # the view answered the failure the fast path carried
    assert fast.bodies[0]["error"]["code"] == code
    parity.created_once(fast, by_view)


def test_a_closed_appeal_is_the_views_422_and_given_back(
    app: Flask, sandbox: Any, log_lines: list[str]
) -> None:
    by_view, fast = both_ways(app, sandbox, log_lines, [post()], prepare=parity.closing_the_appeal(app))
    assert fast.statuses == [422]
    assert fast.by_flask == [True]
    assert "appeal" in fast.bodies[0]["error"]["fields"]
    assert fast.limits == {key: 0 for key in fast.limits}  # the attempt given back


def test_past_the_service_rate_a_gift_takes_the_payment_link(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    surging = make_app(rate_limit_donations_global="1/minute")

    by_view, fast = both_ways(
        surging, sandbox, log_lines, [post(), post()], prepare=parity.making_payment_links(surging)
    )
    assert fast.statuses == [201, 201]
    assert fast.by_flask == [False, False]
    assert [body["status"] for body in fast.bodies] == ["pending", "surge_redirected"]
    assert any("surge" in line["event"] for line in fast.raw_lines[1])  # logged, with its id


def test_the_database_failing_is_the_views_503_after_one_attempt(
    app: Flask, sandbox: Any, log_lines: list[str], monkeypatch: Any
) -> None:
    attempts = parity.counting_calls(monkeypatch, donations_view.donations, "create_donation")
    made_fresh(app, extensions.settings(app), sandbox)
    with parity.database_gone(app), requests_flask_handled(app) as seen:
        response = app.test_client().post(PATH, json=GIFT)
    assert seen == [PATH]  # the view answered
    assert attempts == ["create_donation"]  # once, by the fast path: the view answered its failure
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
    lines = [json.loads(line) for line in log_lines]
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-Id"]}
    assert [line["event"] for line in lines] == ["database_unavailable", "request"]
    assert sum(limit_counts(app).values()) == 2  # a 503 counts, once


def test_a_short_body_is_werkzeugs_disconnect_as_without_the_fast_path(app: Flask) -> None:
    body = json.dumps(GIFT).encode()
    answers = []
    for alone in (True, False):
        with flask_alone(app) if alone else _nothing():
            response = app.test_client().post(
                PATH,
                input_stream=io.BytesIO(body[:-5]),
                headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
            )
        answers.append((response.status_code, response.get_json()["error"]["code"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_production_answers_carry_hsts_after_the_other_headers(app: Flask) -> None:
    owner = parity.layer_of(app, DonationFastPath)
    kept = owner.base_headers
    owner.base_headers = DonationFastPath(app, owner.wsgi_app, production=True).base_headers
    try:
        response = app.test_client().post(PATH, json=GIFT)
    finally:
        owner.base_headers = kept
    assert response.status_code == 201
    assert list(response.headers.keys())[2:] == [
        "X-Request-Id", "X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security",
    ]  # fmt: skip


# -- the request id in log lines written outside Flask's request context -----------------------


def test_lines_logged_outside_a_request_context_carry_the_id_set_for_them() -> None:
    formatter = JsonFormatter()

    def line() -> dict[str, Any]:
        record = logging.LogRecord("service.x", logging.INFO, __file__, 1, "something", (), None)
        return json.loads(formatter.format(record))

    assert "request_id" not in line()
    with logged_with_request_id("req-outside-flask"):
        assert list(line())[:5] == ["time", "level", "logger", "event", "request_id"]
        assert line()["request_id"] == "req-outside-flask"
    assert "request_id" not in line()
    assert REQUEST_ID.get() is None


def test_two_greenlets_each_log_with_their_own_request_id() -> None:
    gevent = pytest.importorskip("gevent")
    formatter = JsonFormatter()
    seen: list[tuple[str, str]] = []

    def serve(request_id: str) -> None:
        with logged_with_request_id(request_id):
            for _ in range(3):
                gevent.sleep(0)  # the other greenlet runs, and sets its own id, meanwhile
                record = logging.LogRecord("service.x", logging.INFO, __file__, 1, "step", (), None)
                seen.append((request_id, json.loads(formatter.format(record))["request_id"]))

    gevent.joinall([gevent.spawn(serve, "req-greenlet-a"), gevent.spawn(serve, "req-greenlet-b")])
    assert len(seen) == 6
    assert {mine for mine, _ in seen} == {"req-greenlet-a", "req-greenlet-b"}
    assert all(mine == logged for mine, logged in seen)
    assert REQUEST_ID.get() is None


def test_the_ids_of_lines_logged_inside_create_donation_match_the_answer(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    """Surge mode's line is written inside create_donation, where the fast path has no ``g``."""
    surging = make_app(rate_limit_donations_global="1/minute")
    made_fresh(surging, extensions.settings(surging), sandbox)
    assert surging.test_cli_runner().invoke(args=["surge", "payment-links", "create"]).exit_code == 0
    client = surging.test_client()
    assert client.post(PATH, json=GIFT).status_code == 201
    log_lines.clear()
    with requests_flask_handled(surging) as seen:
        response = client.post(PATH, json=GIFT)
    assert seen == []
    assert response.get_json()["status"] == "surge_redirected"
    lines = [json.loads(line) for line in log_lines]
    assert len(lines) >= 2  # surge mode's own line(s), then the access line
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-Id"]}
