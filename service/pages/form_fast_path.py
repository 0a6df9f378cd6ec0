"""The donate form's ``POST /donate/<slug>`` answered in front of Flask when it is a 303.

Issue 19: a donation through the form (no JavaScript) should cost what one through the API does,
and the API is answered before Flask (service/api/donation_fast_path.py). Through Flask the form
paid about 0.65 ms more CPU than the API for the request around the work: the request and app
contexts, URL matching, the before/after hooks, the limits' wrapper. ``FormFastPath`` does the
view's work with the view's own pieces and none of that: the form parsed as Flask's
``request.form`` parses it (``FormFastPath.form``: the same MultiDict, from a body within the same
limits), the
appeal found and the form loaded as the view does (``donate.find_appeal``,
``donate.FORM_SCHEMA``), the attempt counted with the donation limits' ``Counts.take`` for the
address ProxyFix gives (it sits inside ProxyFix), and the donation created by the view's
``donate.submit`` (the one home of the ``create_donation`` call and of the redirect's target).
The donor's language is ``i18n.environ_locale``: what ``current_locale()`` would pick from
``?lang=`` and ``Accept-Language``, set as ``g.locale`` in the app context, where
``current_locale()`` finds it. The answer is the view's
own ``redirect(target, 303)`` with the hooks' headers, made directly as Flask would send them
(``FormFastPath.see_other``), the same request counters and access line: the same status, body and
headers in their order.

It takes only the requests whose answer can be a 303 given exactly as Flask would give it, and
decides that before anything is counted or written: a POST to ``/donate/<slug>`` with a plain
slug (letters, digits, ``-`` and ``_``: one path segment the URL map routes to
``donate.donate_submit``; anything else, a trailing slash or what percent-encoding decodes to,
goes to Flask), no query string but the donor's language as the donate page posts it
(``?lang=uk``, ``LANGUAGE_QUERY``), ``Content-Type`` exactly
``application/x-www-form-urlencoded`` (multipart goes to Flask), a ``Content-Length`` within
``MAX_CONTENT_LENGTH`` and a body that long, no session cookie (a browser's other cookies for the
domain change nothing), no chunked body, nothing
``request_limits.target_and_headers_refusal`` or ``request_limits.form_fields_refusal`` refuses,
an appeal that exists and a form that loads without errors. Anything else goes to Flask, the body
given back as it was read, and Flask counts it and answers as always (a 422 given back, a 404
counted); so does an attempt the limits refuse (nothing was counted: Flask's limits refuse it
again and answer the 429 page).

Once the attempt is counted, the fast path writes no answer but the 303. Whatever ``submit``
raises (a closed appeal's 422, Stripe's 502/503, a form token in use, the database down) or a
donation already completed (the view's 409) is handed to Flask with the request, beside the
limits' decision (``rate_limits.TAKEN``), the request id (``http_hooks.GIVEN_REQUEST_ID``) and
what ``submit`` gave (``donate.SUBMITTED``): the limits use that decision instead of counting
again, and the view answers with it where it would have called ``submit``, so nothing is created
or asked of Stripe twice.

tests/service/test_form_fast_path.py compares its answers, access lines, metrics, rows, Stripe
calls and limit windows with the view's, through a client without this layer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, g
from markupsafe import escape
from werkzeug.datastructures import MultiDict
from werkzeug.urls import iri_to_uri

from .. import extensions
from ..http_hooks import WSGIApp, html_response_headers, request_id
from ..i18n import current_locale, environ_locale
from ..logging_setup import logged_with_request_id
from ..post_fast_path import PostFastPath
from ..rate_limits import TAKEN, address_keys
from ..request_limits import form_fields_refusal
from . import donate

PATH = f"{donate.bp.url_prefix}/<slug>"  # the view's rule
ENDPOINT = f"{donate.bp.name}.{donate.donate_submit.__name__}"  # as Flask names it (metrics)
# A slug the URL map's default converter routes to the view as it stands (``PATH_INFO`` is what
# Flask's ``request.path`` is for it): one segment of plain characters.
SUBMIT_PATH = re.compile(re.escape(f"{donate.bp.url_prefix}/") + r"([A-Za-z0-9_-]+)")
# The one query string the fast path takes: the donor's language, as the donate page's own form
# posts it (``action="/donate/<slug>?lang=en"``), a plain value that ``request.args`` gives as it
# stands (no escapes, nothing else). Any other query goes to Flask.
LANGUAGE_QUERY = re.compile(r"lang=([A-Za-z_-]{1,16})")
# Exactly what browsers send for a form; anything else (multipart, a charset) Flask parses.
FORM = "application/x-www-form-urlencoded"
SEE_OTHER = "303 SEE OTHER"  # as Werkzeug writes the status line


class FormFastPath(PostFastPath):
    """Creates an ordinary form donation before Flask and answers its 303, exactly as the view and
    the hooks would."""

    answers_json = False

    def __init__(self, app: Flask, wsgi_app: WSGIApp, production: bool, checkout_origin: str):
        super().__init__(app, wsgi_app, production, path=PATH, endpoint=ENDPOINT, status=SEE_OTHER)
        self.checkout_origin = checkout_origin

    def takes(self, path: str) -> bool:
        return SUBMIT_PATH.fullmatch(path) is not None

    def plain_query(self, query: str) -> bool:
        return not query or LANGUAGE_QUERY.fullmatch(query) is not None

    def answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        started = time.perf_counter()
        counts = extensions.rate_limiter(self.app)
        if environ.get("CONTENT_TYPE") != FORM or counts is None:
            return None
        length = self.plain_length(environ, self.app.config["MAX_CONTENT_LENGTH"])
        if length is None:
            return None
        payload = environ["wsgi.input"].read(length)
        if len(payload) != length or form_fields_refusal(payload) is not None:
            # Flask refuses it (413) or, for a short body, sees the disconnect.
            return self.to_flask(environ, start_response, payload)
        path = environ["PATH_INFO"]
        slug = path[len(donate.bp.url_prefix or "") + 1 :]
        request = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        decision: Any = None
        carried: Exception | donate.Submitted | None = None
        target: str | None = None
        with logged_with_request_id(request), self.app.app_context():  # its teardown closes the session
            requested = LANGUAGE_QUERY.fullmatch(environ.get("QUERY_STRING", ""))
            # current_locale() finds it (service/i18n.py), as Flask's ?lang= and Accept-Language give it.
            g.locale = environ_locale(environ, requested[1] if requested else None)
            loaded = self._loaded(environ, payload, slug)
            if loaded is not None:
                appeal, data, form = loaded
                decision, keys = counts.take(*address_keys(environ.get("REMOTE_ADDR")))
                if decision.retry_after is None:
                    try:
                        target = donate.submit(
                            appeal, data, via=form.get("via"), prefer_payment_link=decision.over_service_rate
                        )
                    except Exception as exc:  # noqa: BLE001 - every failure is the view's to answer
                        carried = exc
                    else:
                        if target is None:
                            carried = donate.Submitted(None)  # the view's 409
        # Flask answers outside this app context: its request would otherwise reuse it (and g).
        if decision is None or decision.retry_after is not None:
            # Not a plain valid form (Flask counts and answers it), or refused by the limits
            # (counted nowhere: Flask's limits refuse it again and answer the 429 page).
            return self.to_flask(environ, start_response, payload, request)
        if carried is not None:
            environ[donate.SUBMITTED] = carried
            environ[TAKEN] = (decision, keys)  # counted once: Flask's limits use this attempt
            return self.to_flask(environ, start_response, payload, request)
        assert target is not None
        headers, body = self.see_other(target, request)
        start_response(SEE_OTHER, headers)
        self.counted(path, request, started, {})
        return [body]

    def see_other(self, location: str, request: str) -> tuple[list[tuple[str, str]], bytes]:
        """The view's answer, ``redirect(location, 303)`` with the hooks' headers, as the WSGI
        headers and body Flask would send for it, made directly.

        Flask makes it as a ``Response`` (Werkzeug's ``utils.redirect``: this page, Content-Type,
        Content-Length and Location in that order), the hooks add their headers
        (``http_hooks.add_response_headers``: the request id, then ``html_response_headers``) and
        Werkzeug's WSGI call gives the Location as ``iri_to_uri`` makes it; building and calling
        that object was about 6 % of a form donation's CPU (bench/README.md). Compared with
        Flask's own answer, byte for byte, in tests/service/test_form_fast_path.py.
        """
        if "\n" in location or "\r" in location:
            # Werkzeug refuses such a header value as it sets it (a header injection otherwise).
            raise ValueError("Header values must not contain newline characters.")
        shown = escape(location)
        body = (
            "<!doctype html>\n"
            "<html lang=en>\n"
            "<title>Redirecting...</title>\n"
            "<h1>Redirecting...</h1>\n"
            "<p>You should be redirected automatically to the target URL: "
            f'<a href="{shown}">{shown}</a>. If not, click the link.\n'
        ).encode()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Location", iri_to_uri(location)),
            ("X-Request-Id", request),
            *html_response_headers(self.production, self.checkout_origin),
        ]
        return headers, body

    def _loaded(
        self, environ: dict[str, Any], payload: bytes, slug: str
    ) -> tuple[Any, dict[str, Any], MultiDict[str, str]] | None:
        """The appeal, the form as the view loads it and the form's fields; None if the view would
        not reach ``submit`` with them (no such appeal, the form's errors) or anything failed."""
        try:
            form = self.form(payload)
            appeal = donate.find_appeal(slug)
            if appeal is None:
                return None
            data = donate.FORM_SCHEMA.load_form(form, current_locale())
        except Exception:  # noqa: BLE001 - a ValidationError, the database down, anything: Flask decides
            return None
        return appeal, data, form

    def form(self, payload: bytes) -> MultiDict[str, str]:
        """Flask's ``request.form`` for this url-encoded body, made directly.

        What Werkzeug 3.1 does for it (``FormDataParser._parse_urlencoded``, given the body within
        ``MAX_CONTENT_LENGTH``, as this one is): ``parse_qsl`` of the body decoded as UTF-8, blank
        values kept, undecodable escapes kept as ``werkzeug.url_quote`` writes them, in the request
        class's ``parameter_storage_class``. Building a request object around it, its stream and
        its parser was half the form's extra CPU over the API's JSON (bench/README.md). Compared
        with the request class's own ``form`` over generated bodies in
        tests/service/test_form_fast_path.py; a body that is not UTF-8 has no fields, as there.
        """
        try:
            items = parse_qsl(payload.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:  # not UTF-8: Werkzeug's parser is silent about it, and gives no fields
            items = []
        return self.app.request_class.parameter_storage_class(items)  # type: ignore[no-any-return]


def install_fast_path(app: Flask, production: bool, checkout_origin: str) -> None:
    """Put ``FormFastPath`` right in front of Flask, beside the donation fast path: inside ProxyFix
    (``create_app`` installs it after this), whose ``REMOTE_ADDR`` the limits count."""
    app.wsgi_app = FormFastPath(app, app.wsgi_app, production, checkout_origin)  # type: ignore[method-assign]
