"""The gateway's HTTP transport (service/stripe_gateway.py, PooledHTTPClient)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import stripe
import urllib3

from service.stripe_gateway import PooledHTTPClient


def test_an_https_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client = PooledHTTPClient(timeout=2)
    proxied = client._pool_for("https://api.stripe.com/v1/checkout/sessions")
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy is not None and proxied.proxy.host == "egress.internal"
    assert not isinstance(client._pool_for("https://127.0.0.1:12111/v1/balance"), urllib3.ProxyManager)


def test_without_a_proxy_every_call_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = PooledHTTPClient(timeout=2)
    assert not isinstance(client._pool_for("https://api.stripe.com/v1/balance"), urllib3.ProxyManager)


def test_a_form_body_goes_out_and_the_answer_comes_back_whole(sandbox: Any) -> None:
    client = PooledHTTPClient(timeout=2)
    body, status, headers = client.request(
        "post",
        f"{sandbox.base_url}/v1/checkout/sessions",
        {"Authorization": "Bearer sk_test_suite", "Content-Type": "application/x-www-form-urlencoded"},
        "mode=payment&not_a_stripe_parameter=1",
    )
    # The sandbox read the body: it names the parameter Stripe would refuse.
    assert status == 400
    assert b"not_a_stripe_parameter" in body
    assert headers["Content-Type"].startswith("application/json")


def test_calls_to_one_origin_share_one_kept_alive_connection(sandbox: Any) -> None:
    client = PooledHTTPClient(timeout=2)
    for _ in range(3):
        _body, status, _headers = client.request(
            "get", f"{sandbox.base_url}/v1/balance", {"Authorization": "Bearer sk_test_suite"}
        )
        assert status == 200
    pool = client._pool_for(f"{sandbox.base_url}/v1/balance")
    assert pool.num_connections == 1  # opened once, reused: no handshake per donation
    client.close()


def test_stripe_itself_is_reached_over_verified_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    pool = PooledHTTPClient(timeout=2)._pool_for("https://api.stripe.com/v1/checkout/sessions")
    assert isinstance(pool, urllib3.HTTPSConnectionPool)
    assert (pool.host, pool.port) == ("api.stripe.com", 443)
    assert pool.cert_reqs == "CERT_REQUIRED" and pool.ca_certs == stripe.ca_bundle_path


def _balance_through_stripe_python(sandbox: Any) -> None:
    client = stripe.StripeClient(
        "sk_test_suite", base_addresses={"api": sandbox.base_url}, http_client=PooledHTTPClient(timeout=2)
    )
    client.v1.balance.retrieve()


def test_stripe_pythons_log_lines_are_not_formatted_while_nothing_would_write_them(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stripe._util

    formatted: list[dict[str, Any]] = []
    real_logfmt = stripe._util.logfmt
    monkeypatch.setattr(stripe._util, "logfmt", lambda props: formatted.append(props) or real_logfmt(props))
    monkeypatch.setattr(stripe, "log", None)
    monkeypatch.delenv("STRIPE_LOG", raising=False)
    import logging

    logger = logging.getLogger("stripe")
    monkeypatch.setattr(logger, "level", logging.WARNING)
    _balance_through_stripe_python(sandbox)
    assert formatted == []  # the service's setting (service/logging_setup.py): nothing formatted


def test_stripe_pythons_log_lines_come_as_before_once_its_logger_is_turned_on(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stripe, "log", None)
    monkeypatch.delenv("STRIPE_LOG", raising=False)
    with caplog.at_level("INFO", logger="stripe"):
        _balance_through_stripe_python(sandbox)
    said = [r.getMessage() for r in caplog.records if r.name == "stripe"]
    assert any(line.startswith("message='Request to Stripe api' method=get") for line in said), said
    assert any("message='Stripe API response'" in line and "response_code=200" in line for line in said), said


FORM_CORPUS = [
    ("line_items[0][price_data][product_data][name]", "Donation: Ukraine – winter appeal"),
    (
        "success_url",
        "https://donate.example.org/donate/red-cross/thanks?session_id={CHECKOUT_SESSION_ID}&lang=fr",
    ),
    ("metadata[source_url]", "https://news.example.org/2026/12/ukraine?utm_source=a b&x=ü€😀"),
    ("customer_email", "Ann.O'Neil+gifts@example.org"),
    ("expires_at", 1765000000),
    ("every ascii", "".join(chr(c) for c in range(128))),
    (b"bytes key", b"\xff\x00 bytes"),
]


def test_form_fields_are_encoded_exactly_as_urllib_encodes_them_first_time_and_remembered() -> None:
    from urllib.parse import urlencode

    from service.stripe_gateway import _urlencode

    expected = urlencode(FORM_CORPUS)
    assert _urlencode(FORM_CORPUS) == expected
    assert _urlencode(FORM_CORPUS) == expected  # answered from memory the second time
    # Every other form of the call is urllib's own.
    assert _urlencode({"a": ["1", "2"]}, doseq=True) == urlencode({"a": ["1", "2"]}, doseq=True)
    assert _urlencode([("a/b", "c/d")], safe="/") == urlencode([("a/b", "c/d")], safe="/")


def test_stripe_python_encodes_a_request_through_the_remembered_quoting(sandbox: Any) -> None:
    from stripe._encode import _api_encode

    from service.stripe_gateway import _quote_plus_remembered

    client = stripe.StripeClient(
        "sk_test_suite", base_addresses={"api": sandbox.base_url}, http_client=PooledHTTPClient(timeout=2)
    )
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "gbp", "unit_amount": 2500,
                                       "product_data": {"name": "Donation: Ukraine"}}, "quantity": 1}],
        "success_url": "https://donate.example.org/donate/ukraine/thanks?session_id={CHECKOUT_SESSION_ID}",
        "customer_email": "donor@example.org",
        "metadata": {"appeal": "red-cross-ukraine"},
    }  # fmt: skip
    # What stripe-python quotes: each field's name and value, as text (the email never remembered).
    quoted = {str(part) for pair in _api_encode(params) for part in pair if "@" not in str(part)}
    _quote_plus_remembered.cache_clear()
    client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    first = _quote_plus_remembered.cache_info()
    session = client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    again = _quote_plus_remembered.cache_info()
    # The sandbox read what was sent; the second request reused every remembered string.
    assert session.customer_email == "donor@example.org" and session.metadata["appeal"] == "red-cross-ukraine"
    assert first.currsize == len(quoted)
    assert again.hits - first.hits == sum(
        1 for pair in _api_encode(params) for p in pair if "@" not in str(p)
    )


def test_a_donors_email_address_is_never_remembered() -> None:
    from service.stripe_gateway import _quote_plus_remembered, _urlencode

    _quote_plus_remembered.cache_clear()
    assert _urlencode([("customer_email", "donor@example.org")]) == "customer_email=donor%40example.org"
    assert _quote_plus_remembered.cache_info().currsize == 1  # the field's name only


HEADER_BLOCKS = [
    b"Content-Type: application/json\r\nContent-Length: 12\r\nRequest-Id: req_1\r\n\r\n",
    b"Server: nginx\nDate: Mon, 07 Dec 2026 06:00:00 GMT\n\n",  # bare line feeds
    b"X-Empty:\r\nX-Spaces:   padded   \r\nX-Tab:\tvalue\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
    b"X-Folded: first\r\n second line\r\n\r\n",  # obsolete line folding: the email parser's
    b"X-Latin: caf\xe9\r\nX-Next-Line: a\x85b\r\n\r\n",  # beyond ASCII, and a Unicode line break
    b"X-Bare-CR: a\rb\r\n\r\n",
    b"From nobody\r\nX-After: 1\r\n\r\n",  # a mailbox From line
    b"not a header\r\nX-After: 1\r\n\r\n",
    b": no name\r\n\r\n",
    b"X-Cut-Off: 1\r\n",  # the connection ended before the blank line
    b"\r\n",
    # A multipart type sends the email parser looking for parts (it records their absence as defects).
    b"Content-Type: multipart/mixed; boundary=x\r\nX-After: 1\r\n\r\n",
]


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_response_headers_are_read_into_the_same_message_as_http_client_reads_them(block: bytes) -> None:
    import http.client
    import io

    from service.stripe_gateway import _parse_headers

    quick, standard = _parse_headers(io.BytesIO(block)), http.client.parse_headers(io.BytesIO(block))
    assert type(quick) is type(standard)
    assert {k: repr(v) for k, v in vars(quick).items()} == {k: repr(v) for k, v in vars(standard).items()}


def test_a_message_content_type_is_read_by_the_standard_parser_as_http_client_reads_it() -> None:
    import http.client
    import io

    from service.stripe_gateway import _parse_headers

    block = b"Content-Type: message/rfc822\r\nX-After: 1\r\n\r\n"
    quick, standard = _parse_headers(io.BytesIO(block)), http.client.parse_headers(io.BytesIO(block))
    # The email parser nests a message here; the nested objects differ only in identity.
    assert type(quick.get_payload()) is type(standard.get_payload()) is list
    assert quick.items() == standard.items() and quick.defects == standard.defects


def test_stripes_answers_are_read_by_the_quick_header_reader_and_the_rest_of_http_client(
    sandbox: Any,
) -> None:
    import http.client

    from service.stripe_gateway import QuickHeadersResponse

    # http.client's own begin, only its parse_headers found elsewhere.
    assert QuickHeadersResponse.begin.__code__ is http.client.HTTPResponse.begin.__code__
    client = PooledHTTPClient(timeout=2)
    response = client._send(
        "get", f"{sandbox.base_url}/v1/balance", {"Authorization": "Bearer sk_test_suite"}, None, preload=True
    )
    assert isinstance(response._original_response, QuickHeadersResponse)  # type: ignore[attr-defined]
    assert response.status == 200 and response.headers["Request-Id"].startswith("req_")
    assert response.headers["Content-Length"] == str(len(response.data))
    client.close()


def test_a_kept_alive_connection_the_server_has_closed_is_replaced_not_used() -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    closed = [threading.Event(), threading.Event()]

    def serve_each_connection_once() -> None:
        for each in closed:
            conn, _addr = listener.accept()
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                request += conn.recv(65536)
            conn.sendall(answer)  # kept alive as far as the client knows ...
            conn.close()  # ... then closed, as a server does with an idle connection
            each.set()

    server = threading.Thread(target=serve_each_connection_once, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/balance"
    client = PooledHTTPClient(timeout=2)
    try:
        for each in closed:
            body, status, _headers = client.request("get", url, {})
            assert (body, status) == (b"{}", 200)
            assert each.wait(5)
        # Both answered, each on its own connection: the second call found the first one closed
        # (readable, at its end) and connected again, instead of writing to it and failing.
    finally:
        client.close()
        server.join(timeout=5)
        listener.close()


def test_the_dropped_connection_check_uses_the_systems_poll_in_a_gevent_worker() -> None:
    import subprocess
    import sys
    import textwrap

    # In a fresh interpreter patched as gunicorn's gevent worker is: gevent's own select.poll is
    # made to fail, so the check must answer through the original one, without waiting.
    script = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import select, socket, time
        def refuse(*args, **kwargs):
            raise AssertionError("gevent's poll was used")
        select.poll = refuse
        from service.stripe_gateway import _readable_now
        ours, theirs = socket.socketpair()
        started = time.monotonic()
        assert _readable_now(ours) is False
        theirs.close()
        assert _readable_now(ours) is True
        assert time.monotonic() - started < 0.5
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def headers_sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The headers of every request the gateway's transport sends from now on."""
    sent: list[dict[str, str]] = []
    send = PooledHTTPClient._send

    def recording(self: PooledHTTPClient, method: str, url: str, headers: Any, body: Any, **kw: Any) -> Any:
        sent.append(dict(headers or {}))
        return send(self, method, url, headers, body, **kw)

    monkeypatch.setattr(PooledHTTPClient, "_send", recording)
    return sent


def test_no_telemetry_about_earlier_calls_goes_to_stripe(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.stripe_gateway import StripeGateway

    sent = headers_sent(monkeypatch)
    monkeypatch.setattr(stripe, "enable_telemetry", True)  # stripe-python's default
    gateway = StripeGateway.from_settings(settings)
    for _ in range(2):
        gateway.client.v1.balance.retrieve()
    # stripe-python would send the first call's latency with the second, and the platform string.
    assert len(sent) == 2
    assert "X-Stripe-Client-Telemetry" not in sent[1]
    assert "platform" not in sent[1]["X-Stripe-Client-User-Agent"]


def test_the_ai_agent_in_the_user_agent_is_the_one_stripe_python_names(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway finds the process's AI agent once (stripe-python looks at a dozen environment
    variables on every call); every request still names what stripe-python's own test names,
    and a mapping other than the process's environment is looked at as stripe-python does."""
    from stripe._api_requestor import _APIRequestor

    from service import stripe_gateway
    from service.stripe_gateway import StripeGateway

    each_time = stripe_gateway._detect_ai_agent_each_time
    assert _APIRequestor._detect_ai_agent is stripe_gateway._detect_ai_agent
    assert not hasattr(each_time, "__wrapped_by_gateway__")  # stripe-python's own, kept to call
    for environ in ({}, {"CURSOR_AGENT": "1"}, {"CLAUDECODE": "1", "GEMINI_CLI": "1"}, {"CODEX_CI": ""}):
        assert _APIRequestor._detect_ai_agent(environ) == each_time(environ)
    assert _APIRequestor._detect_ai_agent({"CURSOR_AGENT": "1"}) == "cursor"

    sent = headers_sent(monkeypatch)
    for agent_variable in ("CLAUDECODE", None):
        for variable, _ in _APIRequestor.AI_AGENTS:
            monkeypatch.delenv(variable, raising=False)
        if agent_variable:
            monkeypatch.setenv(agent_variable, "1")
        stripe_gateway._ai_agent_of_this_process.cache_clear()  # a fresh worker's first call
        expected = each_time(os.environ)
        assert expected == ("claude_code" if agent_variable else "")
        StripeGateway.from_settings(settings).client.v1.balance.retrieve()
        user_agent = sent[-1]["User-Agent"]
        assert user_agent.endswith(" AIAgent/claude_code") if agent_variable else "AIAgent" not in user_agent
        assert json.loads(sent[-1]["X-Stripe-Client-User-Agent"]).get("ai_agent") == (expected or None)
