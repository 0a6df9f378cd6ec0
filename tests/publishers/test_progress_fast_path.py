"""Cached progress reads answered before Flask (service/api/progress.py: ``ProgressFastPath``) are
the view's answers: the same status, body and headers, the same metrics, and every request it
does not fully handle still reaches the view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from service import extensions
from service.api.progress import ENDPOINT, ProgressFastPath
from tests.support.flask_requests import requests_flask_handled

PROGRESS = "/api/v1/appeals/red-cross-ukraine/progress"
LISTED = "http://localhost:8000"  # in the seeded appeal's allowed_origins
# Set per request, so never equal between two answers.
PER_REQUEST = {"X-Request-Id", "Date"}


@pytest.fixture
def flask_requests(app: Flask) -> Iterator[list[str]]:
    """Paths of the requests Flask itself handled (the fast path sends none of its own there)."""
    with requests_flask_handled(app, with_query=True) as seen:
        yield seen


def view_client(app: Flask) -> Client:
    """A client for the app without the fast path in front: every request reaches the view."""
    assert isinstance(app.wsgi_app, ProgressFastPath)
    return Client(app.wsgi_app.wsgi_app)


def comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in PER_REQUEST)
    return response.status_code, response.get_data(), headers


ASKED = [
    ("", {}),
    ("?lang=uk", {}),
    ("?lang=en", {"Origin": LISTED}),
    ("?lang=uk-UA", {"Origin": "https://news.example"}),
    ("?lang=fr", {}),  # not a language we speak: English, as the view picks
    ("", {"Origin": LISTED, "X-Request-Id": "req-from-the-proxy-1"}),
    ("", {"If-None-Match": '"something-else"'}),
]


@pytest.mark.parametrize(("query", "headers"), ASKED)
def test_a_cached_read_is_answered_as_the_view_answers_it(
    app: Flask, client: Any, flask_requests: list[str], query: str, headers: dict[str, str]
) -> None:
    by_view = view_client(app).get(PROGRESS + query, headers=headers)  # renders and caches it
    flask_requests.clear()
    fast = client.get(PROGRESS + query, headers=headers)
    assert flask_requests == []  # answered before Flask
    assert comparable(fast) == comparable(by_view)
    assert fast.status_code == 200
    if "X-Request-Id" in headers:
        assert fast.headers["X-Request-Id"] == headers["X-Request-Id"]
    else:
        assert fast.headers["X-Request-Id"].startswith("req_")


def test_a_browsers_other_cookies_for_the_domain_change_nothing(
    app: Flask, client: Any, flask_requests: list[str]
) -> None:
    view = view_client(app)
    for either in (view, client):
        either.set_cookie("AWSALB", "x")  # a load balancer's: not the session's
    by_view = view.get(PROGRESS, headers={"Origin": LISTED})  # renders and caches it
    flask_requests.clear()
    fast = client.get(PROGRESS, headers={"Origin": LISTED})
    assert flask_requests == []  # answered before Flask
    assert comparable(fast) == comparable(by_view)
    assert fast.status_code == 200


def test_a_current_copy_gets_the_same_304(app: Flask, client: Any, flask_requests: list[str]) -> None:
    etag = client.get(PROGRESS, headers={"Origin": LISTED}).headers["ETag"]
    by_view = view_client(app).get(PROGRESS, headers={"Origin": LISTED, "If-None-Match": etag})
    flask_requests.clear()
    fast = client.get(PROGRESS, headers={"Origin": LISTED, "If-None-Match": f'W/"x", {etag}'})
    assert flask_requests == []
    assert fast.status_code == by_view.status_code == 304
    assert comparable(fast) == comparable(by_view)
    assert fast.get_data() == b"" and "Content-Type" not in fast.headers
    assert fast.headers["Access-Control-Allow-Origin"] == LISTED


def test_a_language_not_yet_rendered_is_rendered_by_the_view(client: Any, flask_requests: list[str]) -> None:
    assert client.get(PROGRESS).status_code == 200  # figures cached, English only
    flask_requests.clear()
    ukrainian = client.get(PROGRESS + "?lang=uk").get_json()["display"]
    # Translating needs the app's context: the view renders it (once) and the fast path reuses it.
    assert flask_requests == ["/api/v1/appeals/red-cross-ukraine/progress?lang=uk"]
    assert ukrainian["gifts"] == "0 пожертв" and ukrainian["locale"] == "uk"
    assert client.get(PROGRESS + "?lang=uk").get_json()["display"] == ukrainian
    assert len(flask_requests) == 1


def test_expired_figures_and_other_requests_go_to_the_view(
    app: Flask, client: Any, flask_requests: list[str]
) -> None:
    assert client.get(PROGRESS).status_code == 200
    assert flask_requests == [PROGRESS + "?"]  # not cached yet: the view computed the figures
    extensions.progress_cache(app).clear()  # as if they had expired
    assert client.get(PROGRESS).status_code == 200
    assert len(flask_requests) == 2
    for path, headers in (
        (PROGRESS + "?lang=uk&_=1712", {}),  # a cache-buster beside lang: the schema ignores it
        (PROGRESS + "?lang=%75k", {}),  # escapes are the view's to decode
        (PROGRESS, {"If-Modified-Since": "Sun, 06 Dec 2026 10:00:00 GMT"}),
        ("/api/v1/appeals/no-such-appeal/progress", {}),
    ):
        flask_requests.clear()
        response = client.get(path, headers=headers)
        assert flask_requests, path
        assert response.status_code == (404 if "no-such" in path else 200)
    client.set_cookie("session", "x")  # a session cookie Flask may refresh: Flask's to answer
    flask_requests.clear()
    assert client.get(PROGRESS).status_code == 200
    client.delete_cookie("session")
    assert client.head(PROGRESS).status_code == 200
    assert client.options(PROGRESS, headers={"Origin": LISTED}).status_code == 204
    assert len(flask_requests) == 3


def http_requests(client: Any, status: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == "donation_router_http_requests_total" and sample.labels == {
                "method": "GET",
                "endpoint": ENDPOINT,
                "status": status,
            }:
                return sample.value
    return 0.0


def test_fast_answers_are_counted_as_the_views_are(client: Any, flask_requests: list[str]) -> None:
    etag = client.get(PROGRESS).headers["ETag"]
    ok, not_modified = http_requests(client, "200"), http_requests(client, "304")
    flask_requests.clear()
    for _ in range(3):
        assert client.get(PROGRESS).status_code == 200
    assert client.get(PROGRESS, headers={"If-None-Match": etag}).status_code == 304
    assert flask_requests == []  # none of the four reached Flask
    assert http_requests(client, "200") == ok + 3
    assert http_requests(client, "304") == not_modified + 1


def test_production_answers_carry_hsts(make_app: Any) -> None:
    app = make_app()
    assert isinstance(app.wsgi_app, ProgressFastPath)
    production = ProgressFastPath(app, app.wsgi_app.wsgi_app, production=True, log_public_reads=False)
    client = app.test_client()
    assert client.get(PROGRESS).status_code == 200  # cached through the view
    app.wsgi_app = production  # type: ignore[method-assign]
    fast = client.get(PROGRESS)
    assert fast.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert fast.headers["X-Content-Type-Options"] == "nosniff"


def test_with_public_reads_logged_every_read_goes_through_the_hooks(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    own = make_app(access_log_public_reads=True)
    caplog.set_level("INFO")
    client = own.test_client()
    for _ in range(3):
        assert client.get(PROGRESS).status_code == 200
    lines = [r for r in caplog.records if r.name == "service.access" and r.getMessage() == "request"]
    assert [line.path for line in lines] == [PROGRESS] * 3
