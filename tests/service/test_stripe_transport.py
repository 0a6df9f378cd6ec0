"""The gateway's HTTP transport (service/stripe_gateway.py, PooledHTTPClient)."""

from __future__ import annotations

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
