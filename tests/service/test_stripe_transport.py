"""The gateway's HTTP transport (service/stripe_gateway.py, PooledHTTPClient)."""

from __future__ import annotations

from typing import Any

import pytest
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
