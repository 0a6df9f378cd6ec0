"""One access line per request, with its request id; successful public cached reads are counted
in /metrics instead of logged, unless ACCESS_LOG_PUBLIC_READS asks for them."""

from __future__ import annotations

from typing import Any

import pytest

from service.settings import load_settings

from ..service.helpers import VALID


def access_lines(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.name == "service.access" and r.getMessage() == "request"]


def test_a_donation_is_logged_once_with_its_request_id(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    response = client.post("/api/v1/donations", json=VALID, headers={"X-Request-Id": "req-test-123456"})
    assert response.status_code == 201
    [line] = access_lines(caplog)
    assert (line.method, line.path, line.status) == ("POST", "/api/v1/donations", 201)
    assert response.headers["X-Request-Id"] == "req-test-123456"
    assert line.elapsed_ms >= 0


def test_successful_progress_reads_are_not_logged_but_failures_are(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    assert client.get("/api/v1/appeals/red-cross-ukraine/progress").status_code == 200
    assert client.get("/livez").status_code == 200
    assert access_lines(caplog) == []
    assert client.get("/api/v1/appeals/no-such-appeal/progress").status_code == 404
    [line] = access_lines(caplog)
    assert line.status == 404


def test_public_reads_are_logged_when_asked(make_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    own = make_app(access_log_public_reads=True)
    caplog.set_level("INFO")
    assert own.test_client().get("/api/v1/appeals/red-cross-ukraine/progress").status_code == 200
    [line] = access_lines(caplog)
    assert line.path == "/api/v1/appeals/red-cross-ukraine/progress"


def test_the_setting_is_read_from_the_environment() -> None:
    base = {"APP_ENV": "development", "DATABASE_URL": "sqlite://"}
    assert load_settings(base).access_log_public_reads is False
    assert load_settings({**base, "ACCESS_LOG_PUBLIC_READS": "true"}).access_log_public_reads is True


def test_a_webhook_delivery_is_one_access_line_naming_the_event_and_its_outcome(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.ledger import payloads

    caplog.set_level("INFO")
    event = payloads.event("customer.created", {"id": "cus_access_log", "object": "customer"})
    assert payloads.post(client, event).status_code == 200
    assert payloads.post(client, event).status_code == 200  # Stripe's retry
    first, second = access_lines(caplog)
    assert (first.path, first.status, first.stripe_event_id) == ("/webhooks/stripe", 200, event["id"])
    assert (first.outcome, first.duplicate) == ("ignored", False)
    assert (second.outcome, second.duplicate) == ("ignored", True)
    ledger_lines = [
        r for r in caplog.records if r.name.startswith("service.ledger") and r.levelname == "INFO"
    ]
    assert [r.getMessage() for r in ledger_lines if r.getMessage() == "webhook_event_applied"] == []
