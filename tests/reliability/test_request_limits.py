"""Limits on what anyone can send: body size (chunked too), form fields, JSON depth."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.request_limits import MAX_JSON_DEPTH, json_depth

from ..service.helpers import VALID, donation_count

LIMIT = 64 * 1024


def send_chunked(base_url: str, path: str, chunks: list[bytes], content_type: str) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked, which Flask's test client never sends."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for chunk in chunks:
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything: that is refusing
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_oversized_json_body_is_refused_with_413(client: Any, app: Any) -> None:
    body = json.dumps({**VALID, "source": {"utm_content": "x" * (LIMIT + 1)}})
    response = client.post("/api/v1/donations", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert donation_count(app) == 0


def test_oversized_chunked_json_body_is_refused_not_truncated(live_server: Any, app: Any) -> None:
    # A valid donation followed by enough whitespace to cross the limit: a server that truncated
    # the body at the limit would create a donation; the right answer is 413 and nothing created.
    head = json.dumps(VALID).encode()
    chunks = [head] + [b" " * 8192] * ((LIMIT // 8192) + 2)
    status, body = send_chunked(live_server.base_url, "/api/v1/donations", chunks, "application/json")
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert donation_count(app) == 0


def test_chunked_body_within_the_limit_is_accepted(live_server: Any, app: Any) -> None:
    head = json.dumps(VALID).encode()
    status, body = send_chunked(
        live_server.base_url, "/api/v1/donations", [head[:10], head[10:]], "application/json"
    )
    assert status == 201, body[:300]
    assert donation_count(app) == 1


def test_oversized_chunked_form_is_refused(live_server: Any, app: Any) -> None:
    chunks = [b"form_token=abcdefghijklmnopqrstuvwxyz&amount_choice=2500&currency=gbp&utm_term="]
    chunks += [b"a" * 8192] * ((LIMIT // 8192) + 2)
    status, _ = send_chunked(
        live_server.base_url, "/donate/red-cross-ukraine", chunks, "application/x-www-form-urlencoded"
    )
    assert status == 413
    assert donation_count(app) == 0


def test_chunked_body_is_refused_when_the_server_cannot_bound_it(client: Any, app: Any) -> None:
    # Without wsgi.input_terminated Werkzeug would read such a body as empty, silently.
    response = client.post(
        "/api/v1/donations",
        data=json.dumps(VALID),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": False},
    )
    assert response.status_code in (411, 413)
    assert donation_count(app) == 0


def test_too_many_form_fields_are_refused(client: Any, app: Any) -> None:
    data = {f"field{i}": "x" for i in range(150)}
    data.update({"form_token": "a" * 20, "amount_choice": "2500", "currency": "gbp"})
    response = client.post("/donate/red-cross-ukraine", data=data)
    assert response.status_code == 413
    assert "text/html" in response.content_type
    assert donation_count(app) == 0


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5000, 60000])
def test_json_nesting_is_limited_before_any_parsing(client: Any, app: Any, levels: int) -> None:
    body = json.dumps({**VALID, "source": "PLACEHOLDER"}).replace('"PLACEHOLDER"', deep(levels - 1))
    response = client.post("/api/v1/donations", data=body, content_type="application/json")
    if levels <= MAX_JSON_DEPTH:
        assert response.status_code == 422  # deep enough to reach the schema, which refuses it
    elif len(body) > LIMIT:
        assert response.status_code == 413
    else:
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "json_too_deep"
    assert donation_count(app) == 0


def test_arrays_nested_deeper_than_pythons_recursion_limit_are_a_400_not_a_500(client: Any) -> None:
    body = "[" * 20000 + "]" * 20000
    response = client.post("/api/v1/donations", data=body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": 2}]}', 3),
        (b'{"a": "[[[[{{{{"}', 1),
        (b'{"a": "\\"[[["}', 1),
        (b"1", 0),
    ],
)
def test_json_depth_ignores_brackets_inside_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def finance_headers(app: Any) -> dict[str, str]:
    from service.finance import tokens
    from service.finance.models import Role

    with app.app_context():
        db = app.extensions["database"].sessionmaker()
        try:
            issued = tokens.create_token(db, name="limits", role=Role.VIEWER, days=1)
            db.commit()
        finally:
            db.close()
    return {"Authorization": f"Bearer {issued.secret}"}


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "100000"},
        {"limit": "0"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
def test_report_page_sizes_and_date_ranges_are_bounded(client: Any, app: Any, query: dict[str, str]) -> None:
    response = client.get("/api/v1/finance/donations", query_string=query, headers=finance_headers(app))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"
