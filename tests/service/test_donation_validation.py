"""Bad input to POST /api/v1/donations gets one structured error naming every bad field,
writes nothing and never calls Stripe."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import VALID, donation_count, session_creates


def post(client: Any, body: Any, **kwargs: Any) -> Any:
    return client.post("/api/v1/donations", json=body, **kwargs)


def assert_nothing_happened(app: Any, sandbox: Any) -> None:
    assert donation_count(app) == 0
    assert session_creates(sandbox) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"appeal": "no-such-appeal"}, "appeal", "No appeal"),
        ({"currency": "jpy"}, "currency", "accepts GBP, EUR, USD"),
        ({"currency": "pounds"}, "currency", "three-letter"),
        ({"amount": "2500"}, "amount", "Not a valid integer"),
        ({"amount": 25.5}, "amount", "Not a valid integer"),
        ({"amount": True}, "amount", "Not a valid integer"),
        ({"amount": 0}, "amount", "positive"),
        ({"amount": 199}, "amount", "minimum gift is 200"),
        ({"amount": 2_500_001}, "amount", "maximum gift is 2500000"),
        ({"frequency": "weekly"}, "frequency", "Must be one of"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"source": {"url": "javascript:alert(1)"}}, "source", "URL"),
        ({"source": {"url": "ftp://example.org/story"}}, "source", "URL"),
        ({"source": {"utm_source": "x" * 201}}, "source", "Longer than maximum"),
        ({"surprise": 1}, "surprise", "Unknown field"),
    ],
)
def test_each_invalid_field_is_named_and_nothing_is_created(
    client: Any, app: Any, sandbox: Any, change: dict[str, Any], field: str, message: str
) -> None:
    response = post(client, {**VALID, **change})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert message in str(error["fields"][field])
    assert_nothing_happened(app, sandbox)


def test_every_bad_field_is_reported_at_once(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, {"appeal": "red-cross-ukraine", "amount": "x", "currency": 12, "extra": True})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"amount", "currency", "extra"}
    assert_nothing_happened(app, sandbox)


def test_missing_required_fields_are_named(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, {})
    assert set(response.get_json()["error"]["fields"]) == {"appeal", "amount", "currency"}
    assert_nothing_happened(app, sandbox)


def test_closed_appeal_is_refused(client: Any, app: Any, sandbox: Any, runner: Any) -> None:
    assert runner.invoke(args=["appeals", "close", "red-cross-ukraine"]).exit_code == 0
    response = post(client, VALID)
    assert response.status_code == 422
    assert "not accepting" in response.get_json()["error"]["fields"]["appeal"][0]
    assert_nothing_happened(app, sandbox)


def test_malformed_json_is_a_400_envelope(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", data='{"appeal": ', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"
    assert_nothing_happened(app, sandbox)


def test_non_utf8_body_is_a_400_not_a_500(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", data=b"\xff\xfe{}", content_type="application/json")
    assert response.status_code == 400
    assert_nothing_happened(app, sandbox)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_wrong_content_type_is_415(client: Any, app: Any, sandbox: Any, content_type: str | None) -> None:
    response = client.post(
        "/api/v1/donations", data="appeal=red-cross-ukraine&amount=2500", content_type=content_type
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert_nothing_happened(app, sandbox)


def test_a_json_array_body_is_refused(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, [VALID])
    assert response.status_code == 422
    assert_nothing_happened(app, sandbox)


def test_zero_decimal_currencies_use_whole_units(
    client: Any, app: Any, sandbox: Any, runner: Any, tmp_path: Any
) -> None:
    appeal_file = tmp_path / "yen.json"
    appeal_file.write_text(
        '{"slug": "yen-appeal", "title": "Yen appeal", "charity_name": "Charity", "currencies": ["jpy"]}'
    )
    assert runner.invoke(args=["appeals", "load", str(appeal_file)]).exit_code == 0
    too_small = post(client, {"appeal": "yen-appeal", "amount": 49, "currency": "jpy"})
    assert too_small.status_code == 422
    assert "minimum gift is 50 (JP¥50)" in too_small.get_json()["error"]["fields"]["amount"][0]
    assert_nothing_happened(app, sandbox)
    ok = post(client, {"appeal": "yen-appeal", "amount": 500, "currency": "jpy"})
    assert ok.status_code == 201, ok.get_json()
    sent = session_creates(sandbox)[0]["params"]
    assert sent["line_items"][0]["price_data"]["unit_amount"] == "500"
    assert sent["line_items"][0]["price_data"]["currency"] == "jpy"


def test_bad_idempotency_key_header_is_refused(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, VALID, headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["error"]["fields"]
    assert_nothing_happened(app, sandbox)
