"""Prometheus metrics, aggregated across gunicorn workers.

Counters and histograms live in prometheus_client's default registry. Under gunicorn each worker
is a separate process, so ``PROMETHEUS_MULTIPROC_DIR`` must be set before the app is imported
(gunicorn.conf.py does it): every worker then writes its values to files there and ``/metrics``
adds them up, whichever worker answers the scrape. The endpoint itself, and the figures read
from the database at scrape time, are in service/metrics_endpoint.py.

Other modules record through the small functions below, never through the metric objects, so
label names and their bounded values stay in one place:

* :func:`observe_stripe_call` (service/stripe_gateway.py)
* :func:`webhook_delivery` (the webhook endpoint, once per delivery, with the outcome known when it
  answers: ``received`` once stored and handed to the job queue, or a redelivery's stored outcome)
* :func:`webhook_applied` (the apply job, once per event it applies, with the applied outcome)
* :func:`rate_limited` (service/rate_limits.py)
* :func:`surge_redirected` (service/donations/surge.py)
"""

from __future__ import annotations

import functools
import re
from typing import Any

from prometheus_client import (
    Counter,
    Histogram,
)

PREFIX = "donation_router"
_LABEL = re.compile(r"^[a-z0-9_.]{1,64}$")

STRIPE_SECONDS = Histogram(
    f"{PREFIX}_stripe_request_duration_seconds",
    "Time spent on one Stripe API call, retries included.",
    ["operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
STRIPE_ERRORS = Counter(
    f"{PREFIX}_stripe_errors",
    "Stripe API calls that failed, by kind (unavailable, rate_limited, rejected, auth).",
    ["operation", "kind"],
)
WEBHOOK_DELIVERIES = Counter(
    f"{PREFIX}_webhook_deliveries",
    "Stripe webhook deliveries received, by event type and what became of them.",
    ["type", "outcome"],
)
WEBHOOK_APPLIED = Counter(
    f"{PREFIX}_webhook_events_applied",
    "Stored Stripe events applied by the job, by event type and outcome (processed, failed...).",
    ["type", "outcome"],
)
EMAILS = Counter(
    f"{PREFIX}_emails",
    "Email delivery attempts by kind and outcome (sent, retry, failed, skipped, render_error).",
    ["kind", "outcome"],
)
RATE_LIMITED = Counter(f"{PREFIX}_rate_limited", "Donation attempts refused by a rate limit.")
SURGE_REDIRECTS = Counter(
    f"{PREFIX}_surge_redirects",
    "Donations sent to their appeal's Payment Link, by why (stripe_budget, service_rate).",
    ["reason"],
)
HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests", "HTTP requests answered.", ["method", "endpoint", "status"]
)
HTTP_SECONDS = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25),
)


def _label(value: str | None) -> str:
    # Label values come from Stripe or from our own code; anything odd is folded into "other"
    # so a forged event type cannot create unbounded time series.
    return value if value and _LABEL.match(value) else "other"


@functools.lru_cache(maxsize=256)
def _stripe_seconds(operation: str, outcome: str) -> Histogram:
    # One histogram child per (operation, outcome), found once: every donation records one, and
    # checking the labels and looking the child up under prometheus_client's lock cost more than
    # the observation. Both come from our own code (a few dozen pairs), never from a request.
    return STRIPE_SECONDS.labels(_label(operation), _label(outcome))


@functools.lru_cache(maxsize=1024)
def _http_children(method: str, endpoint: str, status: int) -> tuple[Any, Any]:
    # As _stripe_seconds: the children found once per (method, endpoint, status), not under
    # prometheus_client's lock on every request. Bounded: methods are folded to a few, endpoints
    # are the app's routes, statuses the codes it answers.
    return HTTP_REQUESTS.labels(method, endpoint, str(status)), HTTP_SECONDS.labels(endpoint)


def count_http_request(method: str, endpoint: str, status: int, seconds: float | None) -> None:
    """One answered request in the HTTP counters (``seconds`` None: its start was not seen)."""
    requests, durations = _http_children(method, endpoint, status)
    requests.inc()
    if seconds is not None:
        durations.observe(seconds)


def observe_stripe_call(operation: str, outcome: str, seconds: float) -> None:
    _stripe_seconds(operation, outcome).observe(seconds)
    if outcome != "ok":
        STRIPE_ERRORS.labels(_label(operation), _label(outcome)).inc()


def webhook_delivery(event_type: str | None, outcome: str) -> None:
    """Count one webhook delivery: ``outcome`` is a WebhookOutcome value or e.g. ``bad_signature``."""
    WEBHOOK_DELIVERIES.labels(_label(event_type), _label(outcome)).inc()


def webhook_applied(event_type: str | None, outcome: str) -> None:
    """Count one stored event applied by the job (service/ledger/receiving.py: apply_stored)."""
    WEBHOOK_APPLIED.labels(_label(event_type), _label(outcome)).inc()


def email_outcome(kind: str, outcome: str) -> None:
    EMAILS.labels(_label(kind), _label(outcome)).inc()


def rate_limited() -> None:
    RATE_LIMITED.inc()


def surge_redirected(reason: str) -> None:
    SURGE_REDIRECTS.labels(_label(reason)).inc()
