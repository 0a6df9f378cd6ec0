"""Donate forms answered before Flask (service/pages/form_fast_path.py: ``FormFastPath``) are the
view's answers: the same status, body and headers in order, the same log lines (the access line
among them) with the request's id, the same metrics, and the database, the donation limits and
the sandbox's recorded Stripe calls end in the same state; and every request it does not answer
with its 303 (a failure inside ``create_donation``, a donation already completed) is the view's,
counted once and created once.

Each case runs twice from the same fresh start (tests/support/parity.py): once with the fast path
taken out of the WSGI chain (Flask alone, ProxyFix and the other layers kept), once through it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from service import extensions
from service.donations import surge
from service.donations.models import Donation
from service.http_hooks import add_response_headers
from service.i18n import current_locale, environ_locale
from service.pages import donate
from service.pages.form_fast_path import LANGUAGE_QUERY, FormFastPath
from tests.support import parity
from tests.support.apps import made_fresh
from tests.support.flask_requests import requests_flask_handled
from tests.support.log_lines import lines_written
from tests.support.parity import Run, Send, limit_counts

FORM = "/donate/red-cross-ukraine"
SESSIONS = "/v1/checkout/sessions"
TOKEN = "form-token-0123456789"
GIFT = {"form_token": TOKEN, "currency": "gbp", "frequency": "one_off", "amount_choice": "2500"}
GIFT_AID = {
    "gift_aid": "1",
    "gift_aid_title": "Ms",
    "gift_aid_first_name": "Ada",
    "gift_aid_last_name": "Lovelace",
    "gift_aid_house": "12",
    "gift_aid_postcode": "SW1A 1AA",
}


def flask_alone(app: Flask) -> Any:
    return parity.without_layer(app, FormFastPath)


@pytest.fixture
def log_lines(monkeypatch: Any) -> Iterator[list[str]]:
    """Every line the service logs; no surge remembered from an earlier test (it turns the
    monthly offer off for five minutes)."""
    monkeypatch.setattr(surge, "_last_redirect", float("-inf"))
    with lines_written("service") as written:
        yield written


def post(fields: dict[str, str] | None = None, path: str = FORM, **headers: str) -> Send:
    """The form as a browser posts it (``application/x-www-form-urlencoded``, exactly)."""
    return lambda client: client.post(path, data=GIFT if fields is None else fields, headers=headers)


def post_raw(data: bytes, content_type: str = "application/x-www-form-urlencoded", **headers: str) -> Send:
    return lambda client: client.post(FORM, data=data, headers={"Content-Type": content_type, **headers})


def both_ways(
    app: Flask, sandbox: Any, log_lines: list[str], sends: list[Send], prepare: Any = None
) -> tuple[Run, Run]:
    def fresh() -> None:
        surge._last_redirect = float("-inf")  # the first run's surge must not change the second's
        if prepare is not None:
            prepare()

    return parity.both_ways(app, sandbox, log_lines, sends, FormFastPath, fresh)


def completed_then(send: Send) -> Send:
    """``send`` after the form's donation was paid (the donor resubmits an old form: the view's 409)."""

    def sent(client: Any) -> Any:
        app = client.application
        with extensions.database(app).sessionmaker.begin() as db:
            db.execute(update(Donation).values(status="paid"))
        return send(client)

    return sent


UK = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}

# (sends, statuses, which of them Flask answers on the fast path's run)
CASES: dict[str, tuple[list[Send], list[int], list[bool]]] = {
    "one_off": ([post()], [303], [False]),
    "monthly": ([post({**GIFT, "frequency": "monthly"})], [303], [False]),
    "rich_gift": (
        [
            post(
                {
                    **GIFT, **GIFT_AID, "amount_choice": "custom", "custom_amount": "12.34",
                    "email": "donor@example.org", "cover_fees": "1", "anonymous": "1",
                    "source_url": "https://news.example/story?x=1", "utm_source": "news",
                    "utm_campaign": "flood", "via": "widget", "unknown_field": "ignored",
                }
            )
        ],
        [303],
        [False],
    ),  # fmt: skip
    "euros": ([post({**GIFT, "currency": "EUR"})], [303], [False]),
    "in_ukrainian": ([post({**GIFT, "amount_choice": "custom", "custom_amount": "12,50"}, **UK)], [303], [False]),
    "english_before_ukrainian": (
        [post(**{"Accept-Language": "en-GB,en;q=0.9,uk;q=0.8"})],
        [303],
        [False],
    ),
    "a_language_we_do_not_speak": ([post(**{"Accept-Language": "fr-FR,fr;q=0.9"})], [303], [False]),
    "a_request_id": ([post(**{"X-Request-Id": "req-from-the-proxy-1"})], [303], [False]),
    "token_reused": ([post(), post()], [303, 303], [False, False]),
    "token_reused_with_another_amount": (
        [post(), post({**GIFT, "amount_choice": "5000"})],
        [303, 422],
        [False, True],
    ),
    "already_completed": ([post(), completed_then(post())], [303, 409], [False, True]),
    "comma_amount_in_english": (
        [post({**GIFT, "amount_choice": "custom", "custom_amount": "12,50"})],
        [422],
        [True],
    ),
    "missing_amount": ([post({**GIFT, "amount_choice": "custom"})], [422], [True]),
    "missing_token": ([post({k: v for k, v in GIFT.items() if k != "form_token"})], [422], [True]),
    "currency_not_accepted": (
        [post({**GIFT, "currency": "jpy", "amount_choice": "custom", "custom_amount": "500"})],
        [422],
        [True],
    ),
    "below_the_minimum": ([post({**GIFT, "amount_choice": "custom", "custom_amount": "1"}, **UK)], [422], [True]),
    "not_utf8": ([post_raw(b"form_token=" + TOKEN.encode() + b"&currency=gbp&amount_choice=2500&x=\xff")], [422], [True]),
    "unknown_appeal": ([post(path="/donate/no-such-appeal")], [404], [True]),
    "a_slug_in_capitals": ([post(path="/donate/Red-Cross-Ukraine")], [404], [True]),
    "trailing_slash": ([post(path=FORM + "/")], [404], [True]),
    "an_encoded_slash": ([post(path="/donate/red-cross%2Fukraine")], [404], [True]),
    "an_encoded_letter": ([post(path="/donate/red-cross-ukrain%65")], [303], [False]),
    "with_a_query": ([post(path=FORM + "?utm_source=x")], [303], [True]),
    # The donate page's own form posts to ?lang=<the page's language>: taken, in that language.
    "in_english_by_query_as_the_page_posts": ([post(path=FORM + "?lang=en", **UK)], [303], [False]),
    "in_ukrainian_by_query": ([post(path=FORM + "?lang=uk")], [303], [False]),
    "a_language_we_do_not_speak_by_query": ([post(path=FORM + "?lang=fr", **UK)], [303], [False]),
    "the_language_and_more": ([post(path=FORM + "?lang=uk&x=1")], [303], [True]),
    "an_encoded_language": ([post(path=FORM + "?lang=%75k")], [303], [True]),
    "an_empty_language": ([post(path=FORM + "?lang=")], [303], [True]),
    # The session's cookie may open a session: Flask's. A browser's other cookies for the domain
    # (a load balancer's, the charity's site's) change nothing, and stay fast.
    "with_the_session_cookie": ([parity.with_a_cookie(post(), "session")], [303], [True]),
    "with_another_cookie": ([parity.with_a_cookie(post(), "AWSALB")], [303], [False]),
    "multipart": ([lambda client: client.post(FORM, data=GIFT, content_type="multipart/form-data")], [303], [True]),
    "with_a_charset": (
        [post_raw(urlencode(GIFT).encode(), "application/x-www-form-urlencoded; charset=utf-8")],
        [303],
        [True],
    ),
    "too_many_fields": ([post({**GIFT, **{f"f{i}": "x" for i in range(100)}})], [413], [True]),
    "too_many_headers": ([post(**{f"X-Padding-{i}": "x" for i in range(100)})], [431], [True]),
    "too_long": ([post({**GIFT, "utm_term": "x" * 70_000})], [413], [True]),
    "then_a_mistake_then_a_gift": (
        [post({**GIFT, "amount_choice": "custom"}), post()],
        [422, 303],
        [True, False],
    ),
}  # fmt: skip


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
    ((_status, body, headers),) = fast.answers
    assert [name for name, _ in headers] == [
        "Content-Type", "Content-Length", "Location", "X-Content-Type-Options", "Referrer-Policy",
        "Content-Security-Policy", "X-Frame-Options",
    ]  # fmt: skip
    assert fast.headers[0]["Location"].startswith(sandbox.base_url)
    assert fast.headers[0]["X-Request-Id"] == "req-from-the-proxy-2"
    assert "Redirecting..." in body
    access = fast.raw_lines[0][-1]
    assert (access["event"], access["path"], access["status"]) == ("request", FORM, 303)
    assert access["request_id"] == "req-from-the-proxy-2"
    endpoint = (("endpoint", "donate.donate_submit"),)
    answered = ("donation_router_http_requests_total", (*endpoint, ("method", "POST"), ("status", "303")))
    timed = ("donation_router_http_request_duration_seconds_count", endpoint)
    assert (fast.metrics[answered], fast.metrics[timed]) == (1, 1)
    assert len([call for call in fast.stripe if SESSIONS in call and '"POST"' in call]) == 1
    assert sum(fast.limits.values()) == 2  # one attempt, in its address's and network's windows


def test_the_donors_language_is_checkouts_and_the_donations(
    app: Flask, sandbox: Any, log_lines: list[str]
) -> None:
    by_view, fast = both_ways(
        app, sandbox, log_lines, [post(**UK), post({**GIFT, "form_token": TOKEN + "x"})]
    )
    assert fast.by_flask == [False, False]
    ukrainian, english = (call for call in fast.stripe if SESSIONS in call and '"POST"' in call)
    assert "lang=uk" in ukrainian and "lang=uk" not in english  # where Checkout sends the donor back
    assert ["'uk'" in row or '"uk"' in row for row in fast.rows["donations"]].count(True) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, "en"), (UK, "uk"), ({"Accept-Language": "fr, uk;q=0.1"}, "uk"), ({"Accept-Language": "fr"}, "en"),
     ({"Accept-Language": "en;q=0.2, uk;q=0.3"}, "uk"), ({"Accept-Language": "*"}, "en"),
     ({"Accept-Language": "uk;q=0"}, "en"), ({"Accept-Language": ";;,=q"}, "en")],
)  # fmt: skip
def test_the_language_from_the_environ_is_the_one_flask_picks(
    app: Flask, headers: dict[str, str], expected: str
) -> None:
    with app.test_request_context(FORM, method="POST", headers=headers) as context:
        assert environ_locale(context.request.environ) == current_locale() == expected


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [("lang=uk", {}, "uk"), ("lang=en", UK, "en"), ("lang=fr", UK, "uk"), ("lang=xx", {}, "en"),
     ("lang=UK", {}, "uk"), ("lang=uk-UA", {}, "uk")],
)  # fmt: skip
def test_the_language_asked_for_in_the_query_is_the_one_flask_picks(
    app: Flask, query: str, headers: dict[str, str], expected: str
) -> None:
    with app.test_request_context(f"{FORM}?{query}", method="POST", headers=headers) as context:
        requested = LANGUAGE_QUERY.fullmatch(query)
        assert requested is not None
        assert environ_locale(context.request.environ, requested[1]) == current_locale() == expected


def test_a_one_off_gift_is_sent_to_the_monthly_offer_in_the_donors_language(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    offering = make_app(monthly_offer=True)
    by_view, fast = both_ways(
        offering, sandbox, log_lines, [post(), post({**GIFT, "form_token": TOKEN + "x"}, **UK)]
    )
    assert fast.statuses == [303, 303]
    assert fast.by_flask == [False, False]
    first, second = (headers["Location"] for headers in fast.headers)
    assert first.startswith(f"{FORM}/choose/") and "lang=" not in first
    assert second.startswith(f"{FORM}/choose/") and second.endswith("?lang=uk")
    assert not [call for call in fast.stripe if SESSIONS in call]  # the offer comes before Checkout


def test_a_gift_past_the_client_limit_is_flasks_429_page_and_not_counted(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    limited = make_app(rate_limit_donations="2/minute")
    another = {**GIFT, "form_token": TOKEN + "x"}
    by_view, fast = both_ways(
        limited,
        sandbox,
        log_lines,
        [post(), post(another), post({**GIFT, "form_token": TOKEN + "y"}), post(another)],
    )
    assert fast.statuses == [303, 303, 429, 429]
    assert fast.by_flask == [False, False, True, True]
    assert fast.headers[2]["Retry-After"]
    assert sum(fast.limits.values()) == 4  # two attempts, each in two windows


def test_behind_a_trusted_proxy_the_limits_count_the_address_it_saw(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    proxied = make_app(rate_limit_donations="1/minute", trusted_proxy_count=1)

    def through(address: str, token: str) -> Send:
        return post({**GIFT, "form_token": token}, **{"X-Forwarded-For": address})

    by_view, fast = both_ways(
        proxied,
        sandbox,
        log_lines,
        [
            through("203.0.113.7", TOKEN),
            through("203.0.113.7", TOKEN + "x"),
            through("198.51.100.9", TOKEN + "y"),
        ],
    )
    assert fast.statuses == [303, 429, 303]
    assert fast.by_flask == [False, True, False]
    assert any("203.0.113.7" in key for key in fast.limits)


@pytest.mark.parametrize(("status", "answer"), [(500, 503), (429, 503), (400, 502)])
def test_stripe_failing_is_the_views_page_counted_once_and_the_same_form_continues(
    make_app: Any, sandbox: Any, log_lines: list[str], status: int, answer: int
) -> None:
    # No retrying of Stripe's 429s within a wait: their number would depend on the jitter's pauses.
    app = make_app(surge_wait_seconds=0)

    def stripe_fails() -> None:
        sandbox.control.fail_next(count=10, path_prefix=SESSIONS, status=status)

    by_view, fast = both_ways(app, sandbox, log_lines, [post()], prepare=stripe_fails)
    assert fast.statuses == [answer]
    assert fast.by_flask == [True]  # the view answered the failure the fast path carried
    # The same form, to continue the same donation.
    assert f'name="form_token" value="{TOKEN}"' in fast.texts[0]
    parity.created_once(fast, by_view)


def test_a_closed_appeal_is_the_views_422_and_given_back(
    app: Flask, sandbox: Any, log_lines: list[str]
) -> None:
    by_view, fast = both_ways(app, sandbox, log_lines, [post()], prepare=parity.closing_the_appeal(app))
    assert fast.statuses == [422]
    assert fast.by_flask == [True]
    assert fast.limits == {key: 0 for key in fast.limits}  # the attempt given back


def test_past_the_service_rate_a_gift_goes_to_the_payment_link(
    make_app: Any, sandbox: Any, log_lines: list[str]
) -> None:
    surging = make_app(rate_limit_donations_global="1/minute")

    by_view, fast = both_ways(
        surging,
        sandbox,
        log_lines,
        [post(), post({**GIFT, "form_token": TOKEN + "x"})],
        prepare=parity.making_payment_links(surging),
    )
    assert fast.statuses == [303, 303]
    assert fast.by_flask == [False, False]
    assert (
        "/checkout/" not in fast.headers[1]["Location"]
        or fast.headers[0]["Location"] != fast.headers[1]["Location"]
    )
    assert any("surge" in line["event"] for line in fast.raw_lines[1])  # logged, with its id
    assert any("surge_redirected" in row for row in fast.rows["donations"])


def test_the_database_failing_is_the_views_answer_after_one_attempt(
    app: Flask, sandbox: Any, log_lines: list[str], monkeypatch: Any
) -> None:
    attempts = parity.counting_calls(monkeypatch, donate.donations, "create_donation")
    made_fresh(app, extensions.settings(app), sandbox)
    client = app.test_client()
    assert client.post(FORM, data={**GIFT, "form_token": TOKEN + "x"}).status_code == 303  # the appeal cached
    attempts.clear()
    log_lines.clear()
    with parity.database_gone(app), requests_flask_handled(app) as seen:
        response = client.post(FORM, data=GIFT)
    assert seen == [FORM]  # the view answered
    assert attempts == ["create_donation"]  # once, by the fast path: the view answered its failure
    assert response.status_code == 503
    lines = [json.loads(line) for line in log_lines]
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-Id"]}
    assert [line["event"] for line in lines] == ["database_unavailable", "request"]
    assert sum(limit_counts(app).values()) == 4  # two attempts (a 503 counts), each once


def test_a_short_body_is_werkzeugs_disconnect_as_without_the_fast_path(app: Flask, sandbox: Any) -> None:
    body = urlencode(GIFT).encode()
    answers = []
    for alone in (True, False):
        made_fresh(app, extensions.settings(app), sandbox)
        with flask_alone(app) if alone else _nothing():
            response = app.test_client().post(
                FORM,
                input_stream=io.BytesIO(body[:-5]),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Length": str(len(body)),
                },
            )
        answers.append(
            (response.status_code, response.get_data(as_text=True), sum(limit_counts(app).values()))
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == 422  # Werkzeug parses what came: the form is incomplete


def _nothing() -> Any:
    from contextlib import nullcontext

    return nullcontext()


def test_production_answers_carry_hsts_after_the_other_headers(app: Flask) -> None:
    owner = parity.layer_of(app, FormFastPath)
    kept = owner.production
    owner.production = True
    try:
        response = app.test_client().post(FORM, data=GIFT)
    finally:
        owner.production = kept
    assert response.status_code == 303
    assert list(response.headers.keys())[3:] == [
        "X-Request-Id", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy",
        "X-Frame-Options", "Strict-Transport-Security",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path",
    ["/donate/red-cross-ukraine", "/donate/a", "/donate/A_b-9", "/donate/", "/donate", "/donate/x/",
     "/donate/x/thanks", "/donate/x.y", "/donate/..", "/donate/%41", "/donate/é", "/donate/x y",
     "/donate//x", "/donatex/y", "/api/v1/donations"],
)  # fmt: skip
def test_the_paths_it_takes_are_the_ones_flask_routes_to_the_view(app: Flask, path: str) -> None:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method="POST")
    except Exception:  # noqa: BLE001 - not found, not allowed, a redirect: not the view's
        endpoint = None
    if parity.layer_of(app, FormFastPath).takes(path):
        assert endpoint == "donate.donate_submit"


def test_a_donation_already_completed_is_the_views_409_without_submitting_again(
    app: Flask, sandbox: Any, monkeypatch: Any
) -> None:
    submitted = parity.counting_calls(monkeypatch, donate.donations, "create_donation")
    made_fresh(app, extensions.settings(app), sandbox)
    client = app.test_client()
    with requests_flask_handled(app) as seen:
        answers = [post()(client).status_code, completed_then(post())(client).status_code]
    assert answers == [303, 409]
    assert seen == [FORM]  # the 409 is the view's page
    assert submitted == [
        "create_donation",
        "create_donation",
    ]  # once a request: the view used what the fast path carried


def flasks_own_303(app: Flask, location: str, request: str, production: bool, origin: str) -> tuple[Any, ...]:
    """What the fast path answered with before ``see_other``: the view's ``redirect`` with the
    hooks' headers, through Werkzeug's WSGI call."""
    response = app.redirect(location, 303)
    add_response_headers(response, request, production, origin)
    started: list[Any] = []
    body = b"".join(
        response({"REQUEST_METHOD": "POST"}, lambda status, headers: started.append((status, headers)))
    )
    return started[0][0], started[0][1], body


LOCATIONS = [
    "https://checkout.stripe.com/c/pay/cs_test_a1B2c3#fidkdWxOYHwnPyd1blpxYHZxWjA0",
    "/donate/red-cross-ukraine/monthly?donation=don_123&sig=a%2Bb",
    'https://example.org/ä ö?x=<y>&z="q"\'',
    "http://xn--80ak6aa92e.com/путь?ключ=значение#фрагмент",
    "https://example.org/\r\nSet-Cookie: x=1",
    "",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    location=st.one_of(st.sampled_from(LOCATIONS), st.text(max_size=80)),
    production=st.booleans(),
)
def test_the_303_is_flasks_own_byte_for_byte(app: Flask, location: str, production: bool) -> None:
    fast = parity.layer_of(app, FormFastPath)
    origin = fast.checkout_origin
    kept = fast.production
    fast.production = production
    try:
        ours = outcome(lambda: ("303 SEE OTHER", *fast.see_other(location, "req_0123456789abcdef")))
    finally:
        fast.production = kept
    assert ours == outcome(lambda: flasks_own_303(app, location, "req_0123456789abcdef", production, origin))


def outcome(make: Any) -> Any:
    """What ``make()`` gives, or the error it raises (a location with a line break is refused)."""
    try:
        return make()
    except ValueError as exc:
        return type(exc), str(exc)


FORM_BODIES = [
    b"form_token=t&currency=gbp&amount_choice=2500",
    b"a=1&a=2&b=&c&=d&&e=%zz&f=%E2%82%AC+5&g=caf%C3%A9&h=%FF&i=x;y",
    b"custom_amount=10%2C50&email=d%40example.org&name=A+B%2BC",
    "ключ=значение".encode(),
    b"\xff\xfe=1",
    b"",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(st.sampled_from(FORM_BODIES), st.binary(max_size=60), st.text(max_size=60).map(str.encode))
)
def test_the_form_is_flasks_request_form(app: Flask, body: bytes) -> None:
    fast = parity.layer_of(app, FormFastPath)
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }

    def parsed(make: Any) -> Any:
        try:
            form = make()
        except Exception as exc:  # noqa: BLE001 - compared, should either fail
            return type(exc)
        return type(form), list(form.items(multi=True))

    with app.app_context():
        theirs = parsed(lambda: app.request_class(environ).form)
    assert parsed(lambda: fast.form(body)) == theirs
