"""What the POST fast paths share: a request answered in front of Flask, as Flask would.

``POST /webhooks/stripe`` (service/ledger/fast_path.py), ``POST /api/v1/donations``
(service/api/donation_fast_path.py) and the donate form's ``POST /donate/<slug>``
(service/pages/form_fast_path.py) each do their own work in front of Flask and hand anything
unusual to it. What they share lives here, once: taking only their own path; the checks that a
request is one the request hooks treat plainly; the answer with the hooks' headers, request
counters and access line; and the hand-over to Flask with the body given back as it was read.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask

from .cookie_sessions import carries_session_cookie
from .http_hooks import GIVEN_REQUEST_ID, WSGIApp, compact_json, response_headers, write_access_line
from .metrics import count_http_request
from .request_limits import target_and_headers_refusal

# A request header that makes Flask's handling differ: a chunked body is bounded by
# service/request_limits.py before the view reads it. (A cookie does only if it is the session's:
# ``cookie_sessions.carries_session_cookie``.)
SLOW_HEADERS = frozenset({"HTTP_TRANSFER_ENCODING"})


class PostFastPath:
    """A WSGI layer that answers ``POST path`` itself when ``answer`` can, else passes it on.

    ``status`` is the one answer it gives (``"201 CREATED"``, as Werkzeug writes the line);
    ``endpoint`` the view's name as Flask gives it, for the request counters. A subclass whose
    path has a variable part overrides :meth:`takes`; one that answers other than JSON sets
    ``answers_json`` False (debug mode's indented JSON then does not concern it)."""

    answers_json = True

    def __init__(
        self, app: Flask, wsgi_app: WSGIApp, production: bool, *, path: str, endpoint: str, status: str
    ):
        self.app = app
        self.wsgi_app = wsgi_app
        self.path = path
        self.status = status
        self.code = int(status.split(" ", 1)[0])
        self.endpoint = endpoint
        self.production = production
        self.base_headers = response_headers(production)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.takes(environ.get("PATH_INFO", "")) and environ.get("REQUEST_METHOD") == "POST":
            answered = self.answer(environ, start_response)
            if answered is not None:
                return answered
        return self.wsgi_app(environ, start_response)

    def takes(self, path: str) -> bool:
        """Whether ``PATH_INFO`` is one this layer may answer (for a POST)."""
        return path == self.path

    def answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        """The answer's body after ``start_response`` (Flask's, once the body is read and Flask must
        answer), or None for Flask to answer (nothing read, nothing done)."""
        raise NotImplementedError

    def plain_query(self, query: str) -> bool:
        """Whether the query string changes nothing in the answer this layer gives: none at all,
        unless a subclass knows better."""
        return not query

    def plain_length(self, environ: Mapping[str, Any], max_length: int | None) -> int | None:
        """The body's declared length if nothing about the request makes the hooks' handling
        differ: a ``Content-Length`` within ``max_length``, a query string :meth:`plain_query`
        takes (by default none), no session cookie or chunked body, nothing the request limits refuse, and compact JSON answers (not debug mode) if it
        answers JSON; else None."""
        length = environ.get("CONTENT_LENGTH", "")
        if (
            not length.isdigit()
            or (max_length is not None and int(length) > max_length)
            or not self.plain_query(environ.get("QUERY_STRING", ""))
            or not SLOW_HEADERS.isdisjoint(environ)
            or carries_session_cookie(self.app, environ)
            or target_and_headers_refusal(environ) is not None
            or (self.answers_json and not compact_json(self.app))
        ):
            return None
        return int(length)

    def respond(
        self,
        start_response: Callable[..., Any],
        body: bytes,
        request_id: str,
        started: float,
        fields: Mapping[str, Any],
    ) -> Iterable[bytes]:
        """The answer as the view and the hooks give it: the same headers in their order, the
        request counters, the access line with the view's ``fields``."""
        start_response(
            self.status,
            [
                ("Content-Type", self.app.json.mimetype),  # type: ignore[attr-defined]
                ("Content-Length", str(len(body))),
                ("X-Request-Id", request_id),
                *self.base_headers,
            ],
        )
        self.counted(self.path, request_id, started, fields)
        return [body]

    def counted(self, path: str, request_id: str, started: float, fields: Mapping[str, Any]) -> None:
        """The answer's request counters and access line, as the hooks write them after the view."""
        elapsed = time.perf_counter() - started
        count_http_request("POST", self.endpoint, self.code, elapsed)
        write_access_line("POST", path, self.code, elapsed * 1000, fields, request_id)

    def to_flask(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        payload: bytes,
        request_id: str | None = None,
    ) -> Iterable[bytes]:
        """Flask answers, from the body as it was read (a short one stays short: Werkzeug then
        sees the disconnect); with ``request_id``, the id lines were already written with."""
        environ["wsgi.input"] = io.BytesIO(payload)
        if request_id is not None:
            environ[GIVEN_REQUEST_ID] = request_id
        return self.wsgi_app(environ, start_response)
