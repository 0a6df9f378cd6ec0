"""Errors in Stripe's wire shape: ``{"error": {type, code, param, message, ...}}``."""

from __future__ import annotations

import time
from typing import Any

_DOCS = "https://docs.stripe.com/error-codes"


class StripeError(Exception):
    """An API error answered with Stripe's status code and JSON body.

    ``before_execution`` marks errors raised while validating a request: Stripe
    does not store an idempotent result for those, so a retry with the same key
    runs the request again.
    """

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        before_execution: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.before_execution = before_execution
        self.extra = extra or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"{_DOCS}#{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        if request_id and self.status != 401:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}?t={_now()}"
        err.update(self.extra)
        return {"error": err}


def _now() -> int:
    return int(time.time())


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def not_found(kind: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{obj_id}'",
        code="resource_missing",
        param=param,
    )


def unknown_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def auth_missing() -> StripeError:
    return StripeError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        "See https://stripe.com/docs/api#authentication for details, or we can help at "
        "https://support.stripe.com/.",
    )


def auth_invalid(key: str) -> StripeError:
    shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
    return StripeError(
        401,
        "invalid_request_error",
        f"Invalid API Key provided: {shown}",
    )


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": "global-rate"},
    )


def api_error(message: str = "An unknown error occurred") -> StripeError:
    # Stripe's own 500s say whether a retry is safe; the sandbox's injected ones
    # come before any work is done, so a retry is safe.
    return StripeError(500, "api_error", message, headers={"Stripe-Should-Retry": "true"})


def card_declined(charge_id: str | None, decline_code: str = "generic_decline") -> StripeError:
    extra: dict[str, Any] = {"decline_code": decline_code}
    if charge_id:
        extra["charge"] = charge_id
    return StripeError(
        402,
        "card_error",
        "Your card was declined.",
        code="card_declined",
        before_execution=False,
        extra=extra,
    )


def injected(status: int) -> StripeError:
    """An error injected by a fault control, shaped as Stripe answers that status."""
    if status == 429:
        return rate_limited()
    if status == 402:
        return card_declined(None)
    if 400 <= status < 500:
        return StripeError(status, "invalid_request_error", "Invalid request (injected by the sandbox).")
    return StripeError(
        status,
        "api_error",
        "An unknown error occurred (injected by the sandbox).",
        headers={"Stripe-Should-Retry": "true"},
    )
