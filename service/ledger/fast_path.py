"""``POST /webhooks/stripe`` answered in front of Flask when the event is stored and queued.

Stripe's deliveries are the service's second most frequent request at a peak (every donation
brings several), and what the endpoint does for one is small: verify the signature, store the row
in one prepared statement, queue its id, answer. Through Flask, the request and app contexts, URL
matching, the before/after hooks and the response object cost about as much CPU as that work
(bench/profile_webhook.py), which kept the endpoint under issue 19's 0.9x of a minimal one.

``WebhookFastPath`` does the same work with the same functions (``verify_signature``,
``receiving.receive``) and answers as the view does, with the pieces the view uses
(views.py: ``count_delivery``, ``access_log_fields``, ``answer``; http_hooks.py:
``write_access_line``, ``request_id``, ``response_headers``): the same status, body and headers,
the same access line and the same metrics. It takes only the requests whose answer it knows
before it stores anything: the jobs on a worker's queue (so the answer is never an applied
outcome nor the 500 of a failed one), a ``Content-Length`` within the event limit, nothing the
request hooks would refuse or treat differently (a cookie, a chunked body, a query string, a body
that is not JSON, too many or too long headers), and a verified signature over a body that is an
event. Anything else goes to Flask untouched, the body given back as it was read, so the view
answers it as always; an error while storing (the database unavailable, first of all) too, with
the exception handed to the view (``views.STORE_FAILED``), which answers it as if its own store
had raised it rather than waiting on the database a second time.
tests/ledger/test_webhook_fast_path.py compares its answers and access lines with the view's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .. import extensions
from ..http_hooks import WSGIApp, json_body, request_id
from ..logging_setup import logged_with_request_id
from ..post_fast_path import PostFastPath
from . import receiving, views
from .signature import SignatureError, verify_signature

PATH = f"{views.bp.url_prefix}/stripe"
ENDPOINT = f"{views.bp.name}.{views.stripe_webhook.__name__}"  # as Flask names it (metrics)
# What Stripe sends (``application/json; charset=utf-8``); the hooks check other bodies (a form's
# field count), so those go to Flask.
JSON = "application/json"


class WebhookFastPath(PostFastPath):
    """Stores and answers a Stripe delivery before Flask, exactly as the view and the hooks would."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp, production: bool):
        super().__init__(app, wsgi_app, production, path=PATH, endpoint=ENDPOINT, status="200 OK")

    def answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        started = time.perf_counter()
        if not receiving.hand_over_defers() or not environ.get("CONTENT_TYPE", "").startswith(JSON):
            return None
        length = self.plain_length(environ, views.MAX_EVENT_BYTES)
        if length is None:
            return None
        request = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        payload = environ["wsgi.input"].read(length)
        settings = extensions.settings(self.app)
        try:
            verify_signature(payload, environ.get("HTTP_STRIPE_SIGNATURE"), settings.stripe_webhook_secrets)
            with logged_with_request_id(request):  # what receive logs carries the request's id
                outcome = receiving.receive(extensions.database(self.app).sessionmaker, settings, payload)
        except (SignatureError, receiving.MalformedEvent):
            # Refused by the view, which counts and logs it.
            return self.to_flask(environ, start_response, payload)
        except Exception as exc:  # noqa: BLE001 - the database unavailable, first of all
            # Nothing stored (receive commits its one statement or raises): the view answers the
            # failure as its own, from the verified body, without storing a second time.
            environ[views.STORE_FAILED] = exc
            # The id the failure's lines were written with.
            return self.to_flask(environ, start_response, payload, request)
        if views.asks_for_redelivery(outcome):  # pragma: no cover - never while the hand-over defers
            # Only if Huey turned immediate since the check above: the view stores the delivery
            # again (counted as a redelivery) and answers it.
            return self.to_flask(environ, start_response, payload)
        views.count_delivery(outcome)
        body = json_body(self.app, views.answer(outcome))
        return self.respond(start_response, body, request, started, views.access_log_fields(outcome))


def install_fast_path(app: Flask, production: bool) -> None:
    """Put ``WebhookFastPath`` in front of the app (inside the progress reads' fast path, outside
    ProxyFix, which it does not need: it reads no client address)."""
    app.wsgi_app = WebhookFastPath(app, app.wsgi_app, production)  # type: ignore[method-assign]
