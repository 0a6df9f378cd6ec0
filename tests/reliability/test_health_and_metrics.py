"""Liveness, readiness with short timeouts, and Prometheus metrics summed across workers."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.health import CHECK_TIMEOUT_SECONDS
from tests.ledger import payloads

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
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    database = response.get_json()["checks"]["database"]
    # Fast: the check gave up within its own timeout, as it timed itself (building the app, slow
    # on a loaded machine, is not part of what a prober waits for).
    assert database["status"] == "down" and database["elapsed_ms"] < CHECK_TIMEOUT_SECONDS * 1000


def test_readyz_is_503_fast_when_redis_is_down(make_app: Any) -> None:
    response = make_app(redis_url="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["redis"]["status"] == "down" and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["elapsed_ms"] < CHECK_TIMEOUT_SECONDS * 1000  # its own timeout


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


def test_real_webhook_deliveries_are_counted_by_type_and_outcome(client: Any) -> None:
    name = "donation_router_webhook_deliveries_total"
    before = client.get("/metrics").get_data(as_text=True)
    unused = payloads.event("customer.created", {"id": "cus_metrics", "object": "customer"})
    assert payloads.post(client, unused).status_code == 200
    assert payloads.post(client, unused).status_code == 200  # Stripe's retry of the same event
    assert payloads.post(client, unused, secrets=("whsec_not_ours",)).status_code == 400
    after = client.get("/metrics").get_data(as_text=True)
    for labels in (
        dict(type="customer.created", outcome="ignored"),
        dict(type="customer.created", outcome="duplicate"),
        dict(type="other", outcome="no_matching_signature"),  # rejected before the body is read
    ):
        assert value(after, name, **labels) == value(before, name, **labels) + 1, labels


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
    # New connections each time, so both sync workers answer some of these.
    for _ in range(20):
        assert requests.get(f"{server.base_url}/livez", timeout=5).status_code == 200
    forged = payloads.body(payloads.event("customer.created", {"id": "cus_forged", "object": "customer"}))
    for _ in range(6):
        response = requests.post(f"{server.base_url}/webhooks/stripe", data=forged, timeout=5,
                                 headers=payloads.headers(forged, secrets=("whsec_not_ours",)))  # fmt: skip
        assert response.status_code == 400
    for _ in range(4):
        assert requests.post(f"{server.base_url}/api/v1/donations", json=VALID, timeout=10).status_code == 201
    scrapes = []
    for _ in range(6):
        text = session.get(f"{server.base_url}/metrics", timeout=5).text
        scrapes.append((
            value(text, "donation_router_http_requests_total", method="GET", endpoint="health.livez", status="200"),
            value(text, "donation_router_webhook_deliveries_total", type="other", outcome="no_matching_signature"),
            value(text, "donation_router_stripe_request_duration_seconds_count",
                  operation="checkout.sessions.create", outcome="ok"),
            value(text, "donation_router_donations", status="pending"),
        ))  # fmt: skip
    # Whichever worker answered the scrape, it reports every worker's counts: all 20 probes
    # (plus the start-up ones), the 6 signature rejections, the 4 Stripe calls and donations.
    assert len(set(scrapes)) == 1, scrapes
    livez, rejected, stripe_calls, pending = scrapes[0]
    assert livez >= 20 and (rejected, stripe_calls, pending) == (6, 4, 4), scrapes[0]
    assert len(list(server.metrics_dir.glob("*.db"))) >= 2  # both workers wrote values


def test_an_oversized_webhook_is_a_413_counted_as_a_rejected_delivery(client: Any) -> None:
    name = "donation_router_webhook_deliveries_total"
    before = client.get("/metrics").get_data(as_text=True)
    body = b'{"id": "evt_big", "padding": "' + b"x" * (1024 * 1024 + 1) + b'"}'
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=0"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    after = client.get("/metrics").get_data(as_text=True)
    labels = dict(type="other", outcome="too_large")
    assert value(after, name, **labels) == value(before, name, **labels) + 1
