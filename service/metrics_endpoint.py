"""The ``/metrics`` endpoint: every worker's counters (service/metrics.py) plus figures read from
the database at scrape time, and the request counters around every view.

Donations by status are not counted as they change: they are read from the database when
Prometheus scrapes, so they are right after restarts and agree with what finance sees.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from . import extensions
from .donations.models import Donation, DonationStatus
from .errors import error_response
from .metrics import PREFIX, count_http_request
from .models import WebhookEvent, WebhookOutcome, utcnow
from .outbox import MessageStatus, counts

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class DonationStatusCollector(Collector):
    """``donation_router_donations{status}``: how many donations are in each state right now."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
        family = GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "Outbox email messages by status.", labels=["status"]
        )
        with extensions.database(self.app).sessionmaker() as session:
            found = counts(session)
        for status in MessageStatus.ALL:
            family.add_metric([status], found.get(status, 0))
        yield family


# Both read through ix_webhook_events_outcome_received (outcome, received_at).
_BACKLOG = select(func.count(), func.min(WebhookEvent.received_at)).where(
    WebhookEvent.outcome == WebhookOutcome.RECEIVED
)
_FAILED = select(func.count(), func.count().filter(WebhookEvent.needs_review.is_(True))).where(
    WebhookEvent.outcome == WebhookOutcome.FAILED
)


class WebhookBacklogCollector(Collector):
    """Stored webhook events the job worker has not applied yet, and the age of the oldest: a worker
    that is down or falling behind shows here (``received`` events are applied within seconds)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with extensions.database(self.app).sessionmaker() as session:
            waiting, oldest = session.execute(_BACKLOG).one()
            failed, given_up = session.execute(_FAILED).one()
        yield GaugeMetricFamily(
            f"{PREFIX}_webhook_backlog_events",
            "Stored webhook events not yet applied (outcome received).",
            value=waiting,
        )
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            f"{PREFIX}_webhook_backlog_oldest_seconds",
            "Age of the oldest stored webhook event not yet applied (0 when none).",
            value=max(age, 0.0),
        )
        family = GaugeMetricFamily(
            f"{PREFIX}_webhook_failed_events",
            "Webhook events whose apply failed: retried with back-off, or given up (needs_review).",
            labels=["state"],
        )
        family.add_metric(["retrying"], failed - given_up)
        family.add_metric(["given_up"], given_up)
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
    database_metrics.register(WebhookBacklogCollector(app))
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
        started = g.get("metrics_started")
        count_http_request(
            method, endpoint, response.status_code, None if started is None else time.perf_counter() - started
        )
    return response


def init_metrics(app: Flask) -> None:
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    app.before_request(_start_timer)
    app.after_request(_count_request)
