"""Security headers on pages and API, HSTS in production, and a webhook route never redirected."""

from __future__ import annotations

from typing import Any

import pytest


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/donate/red-cross-ukraine", "/donate/no-such-appeal", "/"])
def test_donor_pages_have_a_strict_csp_that_still_allows_the_checkout_redirect(
    client: Any, sandbox: Any, path: str
) -> None:
    response = client.get(path)
    assert response.mimetype == "text/html"
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    # The donate form's 303 goes to Checkout; browsers check form-action on that redirect.
    assert sandbox.base_url in csp["form-action"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_production_csp_lists_stripe_checkout_and_sends_hsts(make_app: Any) -> None:
    app = make_app(environment="production", stripe_api_base="https://api.stripe.com")
    response = app.test_client().get("/donate/red-cross-ukraine")
    assert (
        "https://checkout.stripe.com"
        in csp_directives(response.headers["Content-Security-Policy"])["form-action"]
    )
    hsts = response.headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts


def test_no_hsts_outside_production(client: Any) -> None:
    assert "Strict-Transport-Security" not in client.get("/donate/red-cross-ukraine").headers


def test_api_answers_carry_nosniff_and_the_request_id(client: Any) -> None:
    response = client.get("/api/v1/appeals", headers={"X-Request-Id": "trace-12345678"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-Id"] == "trace-12345678"


@pytest.mark.parametrize("path", ["/webhooks/stripe", "/webhooks/stripe/", "/webhooks//stripe"])
@pytest.mark.parametrize("environment", ["test", "production"])
def test_the_webhook_route_is_never_redirected(make_app: Any, path: str, environment: str) -> None:
    # Stripe does not follow redirects: a 301/308 (trailing slash, https upgrade) loses the event.
    overrides: dict[str, Any] = {"environment": environment}
    if environment == "production":
        overrides["stripe_api_base"] = "https://api.stripe.com"
    app = make_app(**overrides)
    response = app.test_client().post(
        path,
        data=b"{}",
        content_type="application/json",
        headers={"X-Forwarded-Proto": "http", "Stripe-Signature": "t=1,v1=00"},
    )
    assert not 300 <= response.status_code < 400, response.headers.get("Location")
    assert "Location" not in response.headers
