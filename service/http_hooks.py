"""Per-request plumbing: request ids, an access log line and security headers."""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, g, request

from .log_redaction import redact

log = logging.getLogger("service.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Public, cached reads that a viral article multiplies (and probes polled every few seconds):
# when they succeed they are counted in /metrics rather than logged one line each.
PUBLIC_READS = frozenset(
    {
        "appeal_figures_api.AppealProgress",
        "embed.embed_js",
        "embed.config",
        "health.livez",
        "health.readyz",
        "metrics",
    }
)


# Every answer carries these (HTML adds its CSP and X-Frame-Options; production adds HSTS).
BASE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin"))
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


# The WSGI environ key under which a fast path hands Flask the request id it already logged with,
# when it gives Flask a request it has begun (a failed donation or webhook store): the answer and
# every line of the request then carry one id, whether the client sent one or not.
GIVEN_REQUEST_ID = "donation_router.request_id"


# A WSGI application, as the layers in front of Flask (the progress, webhook and donation fast
# paths) wrap it.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_id(incoming: str) -> str:
    """The client's (or proxy's) ``X-Request-Id`` when it looks like one, else a new id.

    One shaped like a secret (``whsec_...``, ``sk_live_...``) is replaced too: the id is written
    into every log line of the request, and the logs must never carry anything a secret scanner
    (service/log_redaction.py) would flag, whoever sent it.
    """
    if REQUEST_ID.match(incoming) and redact(incoming) == incoming:
        return incoming
    return "req_" + secrets.token_hex(8)


def compact_json(app: Flask) -> bool:
    """Whether ``jsonify`` writes compact JSON (as :func:`json_body` does): not in debug mode, nor
    with the provider's ``compact`` off, where it indents. A fast path answers JSON only then."""
    compact = getattr(app.json, "compact", None)
    return compact is True or (compact is None and not app.debug)


def json_body(app: Flask, value: Any) -> bytes:
    """The body ``jsonify(value)`` gives when :func:`compact_json`: for an answer made outside Flask."""
    return (app.json.dumps(value, separators=(",", ":")) + "\n").encode()


def response_headers(production: bool) -> tuple[tuple[str, str], ...]:
    """The headers the hooks below add to a non-HTML answer, besides ``X-Request-Id``: for an
    answer made outside Flask (service/api/progress.py: ``ProgressFastPath``)."""
    return (*BASE_HEADERS, HSTS) if production else BASE_HEADERS


def register_request_hooks(
    app: Flask, production: bool, checkout_origin: str, log_public_reads: bool = False
) -> None:
    @app.before_request
    def _start() -> None:
        given = request.environ.pop(GIVEN_REQUEST_ID, None)
        g.request_id = given or request_id(request.headers.get("X-Request-Id", ""))
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        add_response_headers(response, g.get("request_id", ""), production, checkout_origin)
        if not log_public_reads and response.status_code < 400 and request.endpoint in PUBLIC_READS:
            return response
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        write_access_line(
            request.method, request.path, response.status_code, elapsed_ms, g.get("access_log_fields", {})
        )
        return response


def add_response_headers(response: Response, request_id: str, production: bool, checkout_origin: str) -> None:
    """The headers the hooks add to every answer, in their order, where the view set none of its own."""
    response.headers["X-Request-Id"] = request_id
    added = (
        html_response_headers(production, checkout_origin)
        if response.mimetype == "text/html"
        else response_headers(production)
    )
    for name, value in added:
        response.headers.setdefault(name, value)


@functools.cache
def html_response_headers(production: bool, checkout_origin: str) -> tuple[tuple[str, str], ...]:
    """The headers the hooks add to an HTML answer, besides ``X-Request-Id``, in their order: also
    for an answer made outside Flask (service/pages/form_fast_path.py: the donate form's 303)."""
    return (
        *BASE_HEADERS,
        # Browsers apply form-action to the redirect after a POST too, so the donate form's
        # 303 to Stripe Checkout needs Checkout's origin listed.
        (
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"form-action 'self' {checkout_origin}; frame-ancestors 'none'; base-uri 'none'; "
            "object-src 'none'",
        ),
        ("X-Frame-Options", "DENY"),
        *((HSTS,) if production else ()),
    )


def write_access_line(
    method: str,
    path: str,
    status: int,
    elapsed_ms: float,
    fields: Mapping[str, Any],
    request_id: str | None = None,
) -> None:
    """The request's one access line, with a view's own ``fields`` after the request's.

    In a request context the formatter adds ``g.request_id`` itself (service/logging_setup.py); an
    answer made outside Flask (service/ledger/fast_path.py) passes ``request_id``, which then
    lands at the same place in the line: the formatter writes it right after the event name and
    the extra fields in their order.
    """
    extra: dict[str, Any] = {"request_id": request_id} if request_id else {}
    extra.update(method=method, path=path, status=status, elapsed_ms=round(elapsed_ms, 1))
    extra.update(fields)
    log.info("request", extra=extra)
