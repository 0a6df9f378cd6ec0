"""``POST /api/v1/donations`` answered in front of Flask when the donation is created.

Creating donations is what a telethon's peak is made of, and the service's CPU bounds it
(docs/scaling.md). Of the ~2.9 ms of CPU a donation cost under load (issue 19's profile), about
0.5-0.6 ms was Flask's request around the work: the request and app contexts, URL matching, the
before/after/teardown hooks, webargs and flask-smorest's response wrapper. ``DonationFastPath``
does the work with the view's own pieces and none of that: it loads the body with the view's
schema instance (``donations.CREATE_SCHEMA``, through webargs' own ``parse_json``), counts the
attempt with the donation limits' ``Counts.take`` for the address ProxyFix gives (it sits inside
ProxyFix), calls the view's ``donations.create`` (the one home of the ``create_donation`` call)
in an app context, and answers with the view's dump (``donations.CREATED_SCHEMA``) and the hooks'
pieces (service/http_hooks.py: ``request_id``, ``json_body``, ``response_headers``,
``write_access_line``; the same request counters as service/metrics_endpoint.py): the same
status, body and headers in their order, the same access line, the same metrics. Log lines
written meanwhile (surge mode, Stripe's errors) carry the request id through
``logging_setup.logged_with_request_id``; the app context's teardown closes the database
session as after any request (``db._close_session``).

It takes only the requests whose answer it can give exactly, and decides that before anything is
counted or written: a POST to exactly the path, no query string, a ``Content-Length`` within
``MAX_CONTENT_LENGTH`` and a body that long, ``Content-Type: application/json``, no session
cookie (other cookies change nothing) and no chunked body (bounded by the request hooks), nothing
``request_limits.target_and_headers_refusal`` refuses, an ``Idempotency-Key`` the view accepts or
none, JSON within ``MAX_JSON_DEPTH`` that the schema loads without errors, and compact JSON
answers (not in debug mode). No ``Origin`` check is needed: the endpoint answers no CORS
(service/cors.py is for public reads). Anything else goes to Flask untouched, the body given back
as it was read; so does an attempt the limits refuse (nothing was counted: Flask's limits refuse
it again, and log and count the 429 as always).

Once the attempt is counted, the fast path writes no error answer. Whatever ``create`` raises (a
422 for a closed appeal or a reused Idempotency-Key, Stripe's 502/503, the database down, a bug)
is handed to Flask with the request, beside the limits' decision (``rate_limits.TAKEN``) and the
request id (``http_hooks.GIVEN_REQUEST_ID``): the limits use that decision instead of counting
again (and give it back for a ``NOT_COUNTED`` answer), and the view raises the exception where it
would have called ``create`` (``donations.CREATE_FAILED``), so Flask's error handlers, hooks,
access line and metrics answer it as always, and nothing is created or asked of Stripe twice.

In one process, with the domain work stubbed out (a bare WSGI call loop: the checks, the load,
the limits, the app context, the dump, the answer, the access line and the metrics), a donation
costs about 150 µs of CPU here against about 350 µs through Flask; pushing and popping the app
context is about 4 µs of that (bench/profile_donation.py compares the two with the domain work).

The donate form's POST has its twin in service/pages/form_fast_path.py (``FormFastPath``), built
the same way on ``PostFastPath``.

It is on in every mode (the demo's in-process jobs change nothing in a donation's answer, unlike
a webhook's). tests/service/test_donation_fast_path.py compares its answers, access lines,
metrics, rows and Stripe calls with the view's, through a client without this layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from webargs.core import parse_json

from .. import extensions
from ..http_hooks import WSGIApp, json_body, request_id
from ..logging_setup import logged_with_request_id
from ..post_fast_path import PostFastPath
from ..rate_limits import TAKEN, address_keys
from ..request_limits import MAX_JSON_DEPTH, json_deeper_than
from . import donations

PATH = donations.blp.url_prefix
ENDPOINT = f"{donations.blp.name}.{donations.DonationCreate.__name__}"  # as Flask names it (metrics)
# Exactly JSON: other types Flask refuses (415) or the request hooks check (a form's fields).
JSON = "application/json"
CREATED = "201 CREATED"  # as Werkzeug writes the status line


class DonationFastPath(PostFastPath):
    """Creates and answers an ordinary donation before Flask, exactly as the view and the hooks would."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp, production: bool):
        super().__init__(app, wsgi_app, production, path=PATH, endpoint=ENDPOINT, status=CREATED)

    def answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        started = time.perf_counter()
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        counts = extensions.rate_limiter(self.app)
        if (
            environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != JSON
            or (key is not None and not donations.IDEMPOTENCY_KEY.match(key))
            or counts is None
        ):
            return None
        length = self.plain_length(environ, self.app.config["MAX_CONTENT_LENGTH"])
        if length is None:
            return None
        payload = environ["wsgi.input"].read(length)
        loaded = _loaded(payload) if len(payload) == length else None
        if loaded is None:
            # Flask answers it (400, 422...) or, for a short body, sees the disconnect.
            return self.to_flask(environ, start_response, payload)
        request = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        failed: Exception | None = None
        with logged_with_request_id(request):  # create's own lines carry the id
            decision, keys = counts.take(*address_keys(environ.get("REMOTE_ADDR")))
            if decision.retry_after is None:
                try:
                    with self.app.app_context():  # its teardown closes the session, as after a request
                        donation = donations.create(loaded, key, decision.over_service_rate)
                        body = json_body(self.app, donations.CREATED_SCHEMA.dump(donation))
                except Exception as exc:  # noqa: BLE001 - every failure is the view's to answer
                    failed = exc
        if decision.retry_after is not None:
            # Refused, so counted nowhere: Flask's limits refuse it again and answer the 429.
            return self.to_flask(environ, start_response, payload, request)
        if failed is not None:
            environ[donations.CREATE_FAILED] = failed
            environ[TAKEN] = (decision, keys)  # counted once: Flask's limits use this attempt
            return self.to_flask(environ, start_response, payload, request)
        return self.respond(start_response, body, request, started, {})


def _loaded(payload: bytes) -> dict[str, Any] | None:
    """The body as the view's arguments load it, or None if the request hooks or the schema would
    refuse it (too deep, not JSON, not UTF-8, invalid fields)."""
    if json_deeper_than(payload, MAX_JSON_DEPTH):
        return None  # before parsing: Python's parser recurses
    try:
        # webargs' own parse (UTF-8, as the view's arguments read the body), then the view's schema.
        loaded: dict[str, Any] = donations.CREATE_SCHEMA.load(parse_json(payload))
    except Exception:  # noqa: BLE001 - a ValidationError or bad JSON, or anything: Flask decides
        return None
    return loaded


def install_fast_path(app: Flask, production: bool) -> None:
    """Put ``DonationFastPath`` right in front of Flask: inside ProxyFix (``create_app`` installs it
    after this), whose ``REMOTE_ADDR`` the limits count, and inside the other fast paths."""
    app.wsgi_app = DonationFastPath(app, app.wsgi_app, production)  # type: ignore[method-assign]
