"""Limits on what anyone can send: body size (chunked too), form fields, JSON depth."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from service import extensions
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
    status, body = send_chunked(live_server.url, "/api/v1/donations", chunks, "application/json")
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert donation_count(app) == 0


def test_chunked_body_within_the_limit_is_accepted(live_server: Any, app: Any) -> None:
    head = json.dumps(VALID).encode()
    status, body = send_chunked(
        live_server.url, "/api/v1/donations", [head[:10], head[10:]], "application/json"
    )
    assert status == 201, body[:300]
    assert donation_count(app) == 1


def test_oversized_chunked_form_is_refused(live_server: Any, app: Any) -> None:
    chunks = [b"form_token=abcdefghijklmnopqrstuvwxyz&amount_choice=2500&currency=gbp&utm_term="]
    chunks += [b"a" * 8192] * ((LIMIT // 8192) + 2)
    status, _ = send_chunked(
        live_server.url, "/donate/red-cross-ukraine", chunks, "application/x-www-form-urlencoded"
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
        db = extensions.database(app).sessionmaker()
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


def raw_request(port: int, head: bytes) -> tuple[int, str, bytes]:
    """Send a request as raw bytes (no client library refuses it first); status, type, body."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    content_type = next((v for k, v in fields.items() if k.lower() == "content-type"), "")
    return int(lines[0].split()[1]), content_type, body


def test_a_long_address_is_414_in_the_json_envelope_on_the_api_and_a_page_for_donors(client: Any) -> None:
    long_query = "x=" + "a" * 5000
    response = client.get(f"/api/v1/appeals?{long_query}")
    assert response.status_code == 414
    assert response.get_json()["error"]["code"] == "uri_too_long"
    page = client.get(f"/donate/red-cross-ukraine?{long_query}")
    assert page.status_code == 414 and page.mimetype == "text/html"
    assert client.get("/api/v1/appeals?" + "x=" + "a" * 4000).status_code == 200  # under the limit


def test_a_header_too_large_is_431_in_the_json_envelope(client: Any) -> None:
    response = client.get("/api/v1/appeals", headers={"X-Padding": "a" * 9000})
    assert response.status_code == 431
    assert response.get_json()["error"]["code"] == "headers_too_large"
    many = {f"X-Extra-{i}": "1" for i in range(120)}
    assert client.get("/api/v1/appeals", headers=many).get_json()["error"]["code"] == "headers_too_large"


OVERSIZED = [
    # Refused by the app (gunicorn's limits are above the app's): the full envelope.
    (b"GET /api/v1/appeals?x=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
    (
        b"GET /api/v1/appeals HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n",
        431,
        "headers_too_large",
    ),
    # Past gunicorn's own limits: gunicorn refuses before any path is read, still as JSON.
    (b"GET /api/v1/appeals?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
    (
        b"GET /api/v1/appeals HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 17000 + b"\r\n\r\n",
        431,
        "headers_too_large",
    ),
]


def test_under_gunicorn_414_and_431_reach_clients_in_the_json_envelope(gunicorn: Any) -> None:
    server = gunicorn()  # one server for all four: each start costs seconds
    answers = []
    for head, _, _ in OVERSIZED:
        status, content_type, body = raw_request(server.port, head)
        answers.append((status, content_type.split(";")[0], json.loads(body)["error"]["code"]))
    assert answers == [(status, "application/json", code) for _, status, code in OVERSIZED]
