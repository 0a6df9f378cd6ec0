"""Domain exceptions and the one place that turns them into HTTP answers.

Domain modules raise these and never import Flask's request or abort; the API gets a JSON
envelope ``{"error": {...}}`` and donors get a friendly page. Exception text is never echoed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    message = "Some fields are not valid."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."


class IdempotencyConflict(DomainError):
    status = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class RequestInProgress(DomainError):
    status = 409
    code = "request_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."
    retry_after = 1


class CheckoutUnavailable(DomainError):
    """Stripe did not give us a Checkout Session; the donation row records why."""

    status = 503
    code = "payment_provider_unavailable"
    message = "We couldn't reach our payment provider. Your card has not been charged; please try again in a moment."

    def __init__(self, donation_id: str, kind: str, retry_after: int | None):
        super().__init__()
        self.donation_id = donation_id
        self.kind = kind
        self.retry_after = retry_after
        if kind == "rejected" or kind == "auth":
            self.status = 502
            self.code = "payment_setup_failed"
            self.message = (
                "We couldn't set up the payment. Your card has not been charged; "
                "please try again later or choose another amount."
            )


def wants_json() -> bool:
    path = request.path
    if path.startswith(("/api/", "/webhooks/", "/openapi")):
        return True
    return request.accept_mimetypes.best == "application/json"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, Any] | None = None,
    retry_after: int | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if retry_after is not None:
        body["retry_after"] = retry_after
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = jsonify({"error": body})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    431: "headers_too_large",
}


def error_page(status: int, message: str, *, look_up_appeal: bool = True) -> tuple[str, int]:
    """A donor's error page, in the colours and name of the appeal's charity when the address
    names an appeal we know, neutral otherwise (never another charity's, never ours)."""
    return render_template(
        "error.html", status=status, message=message, appeal=_page_appeal(look_up_appeal)
    ), status


def _page_appeal(look_up: bool) -> Any:
    """The appeal the failed page belongs to (/donate/<slug>/...), or None.

    A page that failed must not fail again here: the cached copy is used when there is one, and
    otherwise a fresh, short session (the request's own may hold a failed transaction); with
    ``look_up`` False (the database is down) only the cache is asked.
    """
    slug = (request.view_args or {}).get("slug") if request.blueprint in ("donate", "embed") else None
    if not isinstance(slug, str) or not slug:
        return None
    try:
        cache = current_app.extensions.get("appeal_cache")
        if cache is None:
            return None
        cached = cache.peek(slug)
        if cached is not None or not look_up:
            return cached
        from .db import database

        # Through the cache, not appeals.find_appeal: appeals raises this module's errors, so
        # importing it here would close an import cycle.
        with database().sessionmaker() as session:
            appeal = cache.find(session, slug)
            if appeal is not None:
                session.expunge(appeal)
            return appeal
    except Exception:  # noqa: BLE001 - branding is a courtesy; the error page must still render
        log.warning("error_page_appeal_lookup_failed")
        return None


def handle_domain_error(exc: DomainError) -> Response | tuple[str, int]:
    retry_after = getattr(exc, "retry_after", None)
    if wants_json():
        return error_response(exc.status, exc.code, exc.message, fields=exc.fields, retry_after=retry_after)
    return error_page(exc.status, exc.message)


def handle_http_exception(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    if status >= 500:
        message = "Something went wrong on our side. Nothing was charged; please try again."
        code = "internal_error"
    else:
        code = HTTP_CODES.get(status, "http_error")
        message = exc.description or exc.name
    data = getattr(exc, "data", None) or {}
    fields = data.get("messages") or data.get("errors")
    if (
        isinstance(fields, dict)
        and len(fields) == 1
        and next(iter(fields)) in ("json", "form", "query", "headers")
    ):
        fields = next(iter(fields.values()))  # webargs nests messages under the location
    if status == 422 and fields:
        message = "Some fields are not valid."
    if status == 400 and data.get("messages") is None and "Invalid JSON" in (exc.description or ""):
        code, message = "malformed_json", "The request body is not valid JSON."
    headers = dict(data.get("headers") or {})
    if wants_json():
        response = error_response(status, code, message, fields=fields if isinstance(fields, dict) else None)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        for name, value in headers.items():
            response.headers[name] = value
        return response
    # A 404 on /donate/<slug> is mostly an appeal that does not exist: the cache alone says if
    # it does, so a bot walking made-up slugs costs no second query.
    return error_page(status, _friendly(status), look_up_appeal=status != 404)


def _friendly(status: int) -> str:
    if status == 404:
        return "We couldn't find that page. The link may be out of date."
    if status == 429:
        return "Too many attempts in a short time. Please wait a moment and try again."
    if status >= 500:
        return "Something went wrong on our side. You have not been charged; please try again shortly."
    return "That request didn't work. Please go back and try again."


def handle_unexpected(exc: Exception) -> Response | tuple[str, int]:
    log.exception("unhandled_exception", extra={"exception_type": type(exc).__name__})
    if wants_json():
        return error_response(500, "internal_error", "Something went wrong on our side.")
    return error_page(500, _friendly(500))


def handle_database_unavailable(exc: DBAPIError | PoolTimeout) -> Response | tuple[str, int]:
    """A lost or refused database connection, or no free one in the pool, is an outage to retry,
    not a bug: 503 with Retry-After."""
    if isinstance(exc, DBAPIError) and not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return handle_unexpected(exc)
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    log.error("database_unavailable", extra={"exception_type": type(cause).__name__})
    if wants_json():
        return error_response(
            503, "database_unavailable", "The service is briefly unavailable; retry shortly.", retry_after=5
        )
    body, _status = error_page(503, _friendly(503), look_up_appeal=False)
    return body, 503, {"Retry-After": "5"}  # type: ignore[return-value]


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_database_unavailable)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
