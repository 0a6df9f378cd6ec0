"""Rate limits on creating donations: per client address and for the whole service.

Card testers and bots hammer exactly the endpoint that creates Checkout Sessions, and every
session costs a Stripe API call from a shared budget. Flask-Limiter counts in Redis when
``REDIS_URL`` is set, so all workers and instances share one count; if Redis goes away it falls
back to counting in this process instead of refusing donors (the per-address limit then applies
per worker, which is looser but never blocks a real donor), and checks Redis again with back-off.

The client address is the socket peer unless ``TRUSTED_PROXY_COUNT`` says how many proxies in
front of us append to ``X-Forwarded-For``; only those hops are believed, so a client cannot pick
its own address by sending the header itself.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from . import metrics
from .errors import error_response, wants_json
from .settings import Settings

# The views that create a donation (and so a Checkout Session). Both count against one budget,
# so using the API and the form alternately does not double it.
DONATION_ENDPOINTS = {
    ("POST", "donations_api.DonationCreate"),
    ("POST", "donate.donate_submit"),
}
MESSAGE = "Too many donation attempts in a short time. Please wait a moment and try again."
# Answers given before any Stripe call: a donor's typo or a client's bad request refused by
# validation is not an attempt on Stripe's budget, so it does not use up the donor's limit
# (eight mistyped amounts in a row must not lock a donor out). The 429 itself does not count
# either, so waiting the time the page states is enough.
NOT_COUNTED = frozenset({400, 413, 415, 422, 429})


def counts_against_limit(response: Response) -> bool:
    """Whether an answer from a donation view uses up one of the client's attempts."""
    return response.status_code not in NOT_COUNTED


def _not_a_donation() -> bool:
    # Also keeps the in-memory fallback limits, which Flask-Limiter applies to every request
    # while Redis is down, off page views and webhooks.
    return (request.method, request.endpoint) not in DONATION_ENDPOINTS


def _whole_service() -> str:
    return "all-clients"


def make_limiter(app: Flask, settings: Settings) -> Limiter:
    storage_uri = settings.redis_url or "memory://"
    options: dict[str, Any] = {}
    if settings.redis_url:
        # A dead Redis must cost a donor milliseconds, not the worker's whole time budget.
        options = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri,
        storage_options=options,
        strategy="moving-window",
        key_prefix=f"{settings.deployment_id}:rl",
        in_memory_fallback_enabled=True,
        in_memory_fallback=[settings.rate_limit_donations],
        swallow_errors=True,
        # Off: Flask-Limiter would overwrite the Retry-After of our own 503s (Stripe busy) with
        # its window's reset time. The 429 handler below sets Retry-After itself.
        headers_enabled=False,
    )
    limiter.request_filter(_not_a_donation)
    return limiter


def init_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Trust the configured proxies, then limit the donation views already registered on ``app``."""
    if settings.trusted_proxy_count:
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    limiter = make_limiter(app, settings)
    # With deduct_when Flask-Limiter tests the limit before the view and counts the attempt
    # after it, from the answer (flask_limiter/_extension.py, __check_conditional_deductions).
    per_address = limiter.shared_limit(
        settings.rate_limit_donations, scope="donations", deduct_when=counts_against_limit
    )
    overall = limiter.shared_limit(
        settings.rate_limit_donations_global,
        scope="donations-global",
        key_func=_whole_service,
        deduct_when=counts_against_limit,
    )
    for _method, endpoint in DONATION_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = overall(per_address(view))
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def _retry_after(app_limiter: Limiter | None) -> int:
    current = app_limiter.current_limit if app_limiter else None
    if current is None:
        return 60
    # The moving window's reset time is rounded to whole seconds; never promise more than a window.
    return max(1, min(math.ceil(current.reset_at - time.time()), current.limit.get_expiry()))


def _too_many(_exc: RateLimitExceeded) -> Response | tuple[str, int, dict[str, str]]:
    from flask import current_app

    retry_after = _retry_after(current_app.extensions.get("rate_limiter"))
    metrics.rate_limited()
    if wants_json():
        return error_response(429, "rate_limited", MESSAGE, retry_after=retry_after)
    from .pages.donate import rate_limited_form

    # The donor gets their own form back, in the appeal's colours, with every value kept and the
    # wait stated; resubmitting it after the wait continues the same donation (same form token).
    page, status = rate_limited_form(retry_after)
    return page, status, {"Retry-After": str(retry_after)}
