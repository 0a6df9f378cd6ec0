"""Liveness, readiness with short timeouts, and Prometheus metrics summed across workers."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service import metrics

from ..service.helpers import VALID


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_livez_answers_without_touching_dependencies(make_app: Any) -> None:
    app = make_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/livez")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_ok_when_the_database_answers(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "not_configured"


def test_readyz_checks_redis_when_configured(make_app: Any) -> None:
    response = make_app(redis_url="redis://127.0.0.1:6379/15").test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"]["status"] == "ok"


def test_readyz_is_503_fast_when_the_database_is_down(make_app: Any) -> None:
    app = make_app(database_url="postgresql+psycopg://postgres@127.0.0.1:1/test")
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["status"] == "down"


def test_readyz_is_503_fast_when_redis_is_down(make_app: Any) -> None:
    started = time.monotonic()
    response = make_app(redis_url="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["redis"]["status"] == "down" and body["checks"]["database"]["status"] == "ok"


def test_metrics_count_donations_by_status_and_stripe_calls(client: Any, sandbox: Any) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions", status=400)
    client.post("/api/v1/donations", json=VALID)
    after = client.get("/metrics").get_data(as_text=True)
    assert value(after, "donation_router_donations", status="pending") == 1
    assert value(after, "donation_router_donations", status="checkout_error") == 1
    assert value(after, "donation_router_donations", status="paid") == 0
    name = "donation_router_stripe_request_duration_seconds_count"
    ok = dict(operation="checkout.sessions.create", outcome="ok")
    assert value(after, name, **ok) == value(before, name, **ok) + 1
    errors = "donation_router_stripe_errors_total"
    rejected = dict(operation="checkout.sessions.create", kind="rejected")
    assert value(after, errors, **rejected) == value(before, errors, **rejected) + 1


def test_webhook_deliveries_are_counted_with_bounded_labels(client: Any) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    metrics.webhook_delivery("checkout.session.completed", "processed")
    metrics.webhook_delivery("<script>" * 20, "processed")  # a forged type cannot add a series
    after = client.get("/metrics").get_data(as_text=True)
    name = "donation_router_webhook_deliveries_total"
    for event_type in ("checkout.session.completed", "other"):
        labels = dict(type=event_type, outcome="processed")
        assert value(after, name, **labels) == value(before, name, **labels) + 1


def test_metrics_can_require_a_token(make_app: Any) -> None:
    client = make_app(metrics_token="scrape-token-0123456789").test_client()
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert ok.status_code == 200


def test_metrics_add_up_across_gunicorn_workers(gunicorn: Any, database_backend: str, request: Any) -> None:
    if database_backend == "postgresql" and request.config.getoption("--db") == "both":
        pytest.skip("gunicorn's metric files do not depend on the database; once is enough")
    server = gunicorn(WEB_CONCURRENCY="2", GUNICORN_WORKER_CLASS="sync")
    server.wait_for_workers(2)
    session = requests.Session()
    for _ in range(20):
        # New connections, so both sync workers answer some of them.
        assert requests.get(f"{server.base_url}/livez", timeout=5).status_code == 200
    totals = []
    for _ in range(6):
        response = session.get(f"{server.base_url}/metrics", timeout=5)
        totals.append(value(response.text, "donation_router_http_requests_total", method="GET",
                            endpoint="health.livez", status="200"))  # fmt: skip
    # Whichever worker answered the scrape, it reports all 20 (plus the start-up probes).
    assert min(totals) >= 20 and len(set(totals)) == 1, totals
    assert len(list(server.metrics_dir.glob("*.db"))) >= 2  # both workers wrote values
