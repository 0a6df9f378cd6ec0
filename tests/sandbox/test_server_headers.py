"""sandbox.server.parse_headers: the gevent server's request headers, parsed as the standard parser
parses them (http.client.parse_headers into gevent's OldMessage), only quicker for plain lines."""

from __future__ import annotations

import http.client
import io
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from gevent.pywsgi import OldMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.server import parse_headers, quick_message, start_subprocess

PLAIN = [
    b"Host: 127.0.0.1:8000\r\nAuthorization: Bearer sk_test_x\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n"
    b"Idempotency-Key: 7c1f-22\r\nStripe-Version: 2026-09-30.endive\r\n"
    b'User-Agent: Stripe/v1 PythonBindings/16.1.0\r\nX-Stripe-Client-User-Agent: {"a": "b c"}\r\n\r\n',
    b"Host: h\nContent-Length: 0\n\n",  # bare LF line ends
    b"X-A: 1\r\nx-a: 2\r\nX-A:3\r\n\r\n",  # the same header thrice, names as sent
    b"X-Empty:\r\nX-Blank:   \r\nX-Tab:\t\r\nX-Trailing: v \t \r\n\r\n",
    b"X-Odd-Name!#$%&'*+.^_`|~: v:w:x\r\n\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n",
    b"Content-Type: multipart\r\n\r\n",  # no "/": text/plain to the parser
    b"\r\n",  # no headers at all
]

UNUSUAL = [
    b"X-A: one\r\n two\r\n\tthree\r\nHost: h\r\n\r\n",  # folded (continuation) lines
    b" X-A: continuation first\r\nHost: h\r\n\r\n",
    "X-Name: café\r\n\r\n".encode("latin-1"),
    "X-Name: café\r\n\r\n".encode(),
    b"Host: x",  # the connection ended before the blank line
    b"Host: x\r\n",
    b"Host: x\r\nnonsense\r\n\r\n",
    b"From someone\r\nHost: x\r\n\r\n",
    b"Host: x\r\nFrom someone\r\nX-A: 1\r\n\r\n",
    b": no name\r\nHost: x\r\n\r\n",
    b"Host : x\r\n\r\n",
    b"X-A: a\rb\r\n\r\n",
    b"X-A: a\x0cb\r\n\r\n",
    b"X-A: a\x85b\r\n\r\n",
    b"X-A: a\r\r\n\r\n",
    b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 3\r\n\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n",
    b"content-type: Message/RFC822\r\n\r\n",
    b"Content-Type: message/delivery-status\r\n\r\n",
]


def _summary(message: Any) -> Any:
    """Everything the message holds, with defects (compared by identity) by their kind and text."""
    state = {k: v for k, v in vars(message).items() if k not in ("defects", "_payload")}
    payload = message._payload
    if isinstance(payload, list):
        payload = [_summary(part) for part in payload]
    defects = [(type(d), str(d)) for d in message.defects]
    return type(message), state, defects, payload


def _gevent_view(message: Any) -> Any:
    """What gevent's WSGIHandler reads from it (pywsgi.py: read_request, _headers, get_environ)."""
    return (
        message.status,
        list(message.headers),
        message.typeheader,
        message.getheader("content-length"),
        message.get("transfer-encoding"),
        message.get("Connection"),
        list(message.items()),
    )


@pytest.mark.parametrize("block", PLAIN + UNUSUAL)
def test_the_same_message_as_the_standard_parser(block: bytes) -> None:
    body = b"a=1&b=2"
    mine_fp, standard_fp = io.BytesIO(block + body), io.BytesIO(block + body)
    mine = parse_headers(mine_fp, OldMessage)
    standard = http.client.parse_headers(standard_fp, _class=OldMessage)
    assert _summary(mine) == _summary(standard)
    assert _gevent_view(mine) == _gevent_view(standard)
    # The body is left where it was for the request to read.
    assert mine_fp.read() == standard_fp.read()


_LINE = st.tuples(
    st.text("aZ-_:! \t", max_size=6) | st.just("Content-Type"),  # names, also empty, blank, with colons
    st.sampled_from([":", ": ", ":\t ", " :", ""]),
    st.text("v /;=\t\r\x0c\x85é", max_size=6)
    | st.sampled_from(["multipart/mixed", "message/rfc822", "Text/Plain; a=b", "From x"]),
    st.sampled_from(["\r\n", "\n", "\r"]),
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_LINE, max_size=5), st.sampled_from(["\r\n", "\n", ""]))
def test_any_header_block_gives_the_standard_parsers_message(lines: list[str], end: str) -> None:
    block = ("".join(lines) + end).encode("latin-1")
    mine = parse_headers(io.BytesIO(block), OldMessage)
    standard = http.client.parse_headers(io.BytesIO(block), _class=OldMessage)
    assert _summary(mine) == _summary(standard)


@pytest.mark.parametrize("block", PLAIN)
def test_plain_blocks_take_the_quick_way(block: bytes) -> None:
    lines = http.client._read_headers(io.BytesIO(block))
    assert quick_message(lines, OldMessage) is not None


@pytest.mark.parametrize("block", UNUSUAL)
def test_anything_unusual_goes_to_the_standard_parser(block: bytes) -> None:
    lines = http.client._read_headers(io.BytesIO(block))
    assert quick_message(lines, OldMessage) is None


def test_limits_are_http_clients() -> None:
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(b"X-A: " + b"a" * 70_000 + b"\r\n\r\n"), OldMessage)
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        parse_headers(io.BytesIO(b"X-A: 1\r\n" * 101 + b"\r\n"), OldMessage)


def _raw_request(base_url: str, head: bytes, body: bytes) -> tuple[int, dict[str, Any]]:
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1])
    return status, json.loads(response.split(b"\r\n\r\n", 1)[1])


def test_requests_through_the_gevent_server() -> None:
    sandbox = start_subprocess("--quiet")  # gevent: python -m sandbox's default server
    try:
        client = stripe.StripeClient("sk_test_headers", base_addresses={"api": sandbox.base_url})
        params = {
            "mode": "payment",
            "success_url": "https://donate.example/thanks",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": "eur", "unit_amount": 1000, "product_data": {"name": "Sudan appeal"}}}],
        }  # fmt: skip
        first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "hdr-1"})
        again = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "hdr-1"})
        assert again.id == first.id
        assert again.last_response.headers["Idempotent-Replayed"] == "true"

        # A folded header and a Latin-1 one send the request down the standard parser.
        form = (
            b"mode=payment&success_url=https%3A%2F%2Fd.example%2Fok&line_items[0][quantity]=1"
            b"&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=1000"
            b"&line_items[0][price_data][product_data][name]=Sudan+appeal"
        )
        head = (
            b"POST /v1/checkout/sessions HTTP/1.1\r\nHost: sandbox\r\n"
            b"Authorization: Bearer sk_test_headers\r\nX-Folded: one\r\n two\r\n"
            + "X-Name: café\r\n".encode("latin-1")
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
        )
        status, answer = _raw_request(sandbox.base_url, head, form)
        assert (status, answer["object"], answer["amount_total"]) == (200, "checkout.session", 1000)
        plain = (
            b"POST /v1/checkout/sessions HTTP/1.1\r\nHost: sandbox\r\n"
            b"Authorization: Bearer sk_test_headers\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        )
        status, answer = _raw_request(sandbox.base_url, plain, form)
        assert (status, answer["object"], answer["amount_total"]) == (200, "checkout.session", 1000)
        # Headers still count: without the API key the request is refused.
        status, answer = _raw_request(sandbox.base_url, plain.replace(b"Authorization", b"X-Other"), form)
        assert (status, answer["error"]["type"]) == (401, "invalid_request_error")
    finally:
        sandbox.stop()
