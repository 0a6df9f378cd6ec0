"""Prometheus metrics, aggregated across gunicorn workers.

Counters and histograms live in prometheus_client's default registry. Under gunicorn each worker
is a separate process, so ``PROMETHEUS_MULTIPROC_DIR`` must be set before the app is imported
(gunicorn.conf.py does it): every worker then writes its values to files there and ``/metrics``
adds them up, whichever worker answers the scrape. Donations by status are not counted at all:
they are read from the database at scrape time, so they are right after restarts and agree with
what finance sees.

Other modules record through the small functions below, never through the metric objects, so
label names and their bounded values stay in one place:

* :func:`observe_stripe_call` (service/stripe_gateway.py)
* :func:`webhook_delivery` (the webhook ledger, once per delivery, with its outcome)
* :func:`rate_limited` (service/rate_limits.py)
* :func:`surge_redirected` (service/donations/surge.py)
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from . import extensions
from .errors import error_response

PREFIX = "donation_router"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
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


def observe_stripe_call(operation: str, outcome: str, seconds: float) -> None:
    STRIPE_SECONDS.labels(_label(operation), _label(outcome)).observe(seconds)
    if outcome != "ok":
        STRIPE_ERRORS.labels(_label(operation), _label(outcome)).inc()


def webhook_delivery(event_type: str | None, outcome: str) -> None:
    """Count one webhook delivery: ``outcome`` is a WebhookOutcome value or e.g. ``bad_signature``."""
    WEBHOOK_DELIVERIES.labels(_label(event_type), _label(outcome)).inc()


def email_outcome(kind: str, outcome: str) -> None:
    EMAILS.labels(_label(kind), _label(outcome)).inc()


def rate_limited() -> None:
    RATE_LIMITED.inc()


def surge_redirected(reason: str) -> None:
    SURGE_REDIRECTS.labels(_label(reason)).inc()


class DonationStatusCollector(Collector):
    """``donation_router_donations{status}``: how many donations are in each state right now."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .models import Donation, DonationStatus

        family = GaugeMetricFamily(f"{PREFIX}_donations", "Donations by status.", labels=["status"])
        database = extensions.database(self.app)
        with database.sessionmaker() as session:
            rows = dict(
                session.execute(select(Donation.status, func.count()).group_by(Donation.status)).all()
            )
        for status in DonationStatus.ALL:
            family.add_metric([status], rows.get(status, 0))
        yield family


class OutboxCollector(Collector):
    """``donation_router_outbox_messages{status}``: queued email by state; ``failed`` needs an operator."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .outbox import MessageStatus, counts

        family = GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "Outbox email messages by status.", labels=["status"]
        )
        with extensions.database(self.app).sessionmaker() as session:
            found = counts(session)
        for status in MessageStatus.ALL:
            family.add_metric([status], found.get(status, 0))
        yield family


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_metrics(app: Flask) -> bytes:
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        process_metrics = generate_latest(registry)
    else:
        process_metrics = generate_latest(REGISTRY)
    database_metrics = CollectorRegistry()
    database_metrics.register(DonationStatusCollector(app))
    database_metrics.register(OutboxCollector(app))
    return process_metrics + generate_latest(database_metrics)


def metrics_view() -> Any:
    token = extensions.settings().metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error_response(401, "unauthorized", "Send the metrics token as a Bearer token.")
    return Response(render_metrics(current_app._get_current_object()), mimetype=CONTENT_TYPE_LATEST)  # type: ignore[attr-defined]


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
    if endpoint != "metrics":
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            HTTP_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
    return response


def init_metrics(app: Flask) -> None:
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    app.before_request(_start_timer)
    app.after_request(_count_request)
