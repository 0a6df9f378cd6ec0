"""Creating a donation makes exactly one Stripe Checkout Session with the right parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.params import params_class, validate

from .helpers import VALID, load_donation, session_creates


def create(client: Any, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post("/api/v1/donations", json=body or VALID, headers=headers)


def test_one_off_donation_gets_a_checkout_session(client: Any, app: Any, sandbox: Any) -> None:
    response = create(client, {**VALID, "email": "donor@example.org"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("don_")
    assert body["status"] == "pending"
    assert body["checkout_url"].startswith(sandbox.base_url)
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=55) < expires - datetime.now(UTC) <= timedelta(minutes=60)

    [call] = session_creates(sandbox)
    params = call["params"]
    assert params["mode"] == "payment"
    assert params["submit_type"] == "donate"
    assert params["client_reference_id"] == body["id"]
    assert params["customer_email"] == "donor@example.org"
    assert params["metadata"]["donation_id"] == body["id"]
    assert params["metadata"]["appeal"] == "red-cross-ukraine"
    assert params["payment_intent_data"]["metadata"]["donation_id"] == body["id"]
    assert params["payment_intent_data"]["statement_descriptor_suffix"] == "UKRAINE"
    item = params["line_items"][0]
    assert item["price_data"]["unit_amount"] == "2500"
    assert item["price_data"]["currency"] == "gbp"
    assert "Red Cross Emergency Appeal (Ukraine)" in item["price_data"]["product_data"]["name"]
    assert params["success_url"] == (
        "http://donate.test/donate/red-cross-ukraine/thanks?session_id={CHECKOUT_SESSION_ID}"
    )
    assert (
        params["cancel_url"] == f"http://donate.test/donate/red-cross-ukraine/cancelled?donation={body['id']}"
    )
    assert call["idempotency_key"].startswith(f"donation-{body['id']}-checkout-")

    donation = load_donation(app, body["id"])
    assert donation.stripe_checkout_session_id and donation.stripe_checkout_session_id.startswith("cs_")
    assert donation.email == "donor@example.org"


def test_monthly_donation_uses_a_subscription_with_monthly_price(client: Any, sandbox: Any) -> None:
    response = create(client, {**VALID, "frequency": "monthly"})
    assert response.status_code == 201
    [call] = session_creates(sandbox)
    params = call["params"]
    assert params["mode"] == "subscription"
    # "Donate" on the button for monthly gifts too (subscription mode takes it since 2024-11-20),
    # and the sandbox, like Stripe, accepts it: the session exists.
    assert params["submit_type"] == "donate" and "payment_intent_data" not in params
    assert response.get_json()["checkout_url"].startswith(sandbox.base_url)
    assert params["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert params["subscription_data"]["metadata"]["donation_id"] == response.get_json()["id"]


def test_connected_charity_account_receives_a_destination_charge(
    client: Any, sandbox: Any, runner: Any, tmp_path: Any
) -> None:
    definition = tmp_path / "connected.yaml"
    definition.write_text(
        "slug: connected\ntitle: Connected appeal\ncharity_name: Charity\ncurrencies: [eur]\n"
        "stripe_account: acct_1Charity\n"
    )
    assert runner.invoke(args=["appeals", "load", str(definition)]).exit_code == 0
    assert create(client, {"appeal": "connected", "amount": 1000, "currency": "eur"}).status_code == 201
    assert (
        create(
            client, {"appeal": "connected", "amount": 1000, "currency": "eur", "frequency": "monthly"}
        ).status_code
        == 201
    )
    one_off, monthly = (call["params"] for call in session_creates(sandbox))
    assert one_off["payment_intent_data"]["on_behalf_of"] == "acct_1Charity"
    assert one_off["payment_intent_data"]["transfer_data"] == {"destination": "acct_1Charity"}
    assert monthly["subscription_data"]["on_behalf_of"] == "acct_1Charity"
    assert monthly["subscription_data"]["transfer_data"] == {"destination": "acct_1Charity"}


def test_every_parameter_sent_is_one_stripe_python_lists(
    client: Any, sandbox: Any, runner: Any, tmp_path: Any
) -> None:
    """The sandbox refuses unknown params too; this pins it against the typed params directly."""
    definition = tmp_path / "connected.yaml"
    definition.write_text(
        "slug: connected\ntitle: Connected\ncharity_name: C\ncurrencies: [usd]\nstripe_account: acct_1X\n"
        "statement_descriptor_suffix: HELP\n"
    )
    runner.invoke(args=["appeals", "load", str(definition)])
    source = {"url": "https://news.example/story", "utm_source": "news", "utm_campaign": "ukraine"}
    bodies = [
        {**VALID, "email": "a@example.org", "source": source},
        {**VALID, "frequency": "monthly", "source": source},
        {"appeal": "connected", "amount": 500, "currency": "usd"},
        {"appeal": "connected", "amount": 500, "currency": "usd", "frequency": "monthly"},
    ]
    for body in bodies:
        assert create(client, body).status_code == 201
    calls = sandbox.control.requests()
    assert len(calls) == len(bodies)
    session_create = params_class("checkout.SessionCreateParams")
    for call in calls:
        assert (call["method"], call["path"]) == ("POST", "/v1/checkout/sessions")
        validate(session_create, call["params"])  # raises ParamError on anything unlisted


def test_public_status_shows_no_personal_data(client: Any) -> None:
    created = create(client, {**VALID, "email": "private@example.org"}).get_json()
    response = client.get(f"/api/v1/donations/{created['id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending" and body["amount"] == 2500
    assert "private@example.org" not in response.get_data(as_text=True)
    assert client.get("/api/v1/donations/don_doesnotexist").status_code == 404


def test_source_and_utm_fields_are_recorded(client: Any, app: Any, sandbox: Any) -> None:
    source = {
        "url": "https://news.example/ukraine-story",
        "referrer": "https://www.social.example/post/1",
        "utm_source": "daily-example",
        "utm_medium": "article",
        "utm_campaign": "ukraine",
    }
    created = create(client, {**VALID, "source": source}).get_json()
    donation = load_donation(app, created["id"])
    assert donation.source_url == source["url"]
    assert donation.referrer_host == "www.social.example"
    assert (donation.utm_source, donation.utm_medium, donation.utm_campaign) == (
        "daily-example",
        "article",
        "ukraine",
    )
    assert session_creates(sandbox)[0]["params"]["metadata"]["utm_source"] == "daily-example"


def test_redirect_urls_never_come_from_the_request(client: Any, sandbox: Any) -> None:
    client.post(
        "/api/v1/donations",
        json=VALID,
        headers={
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
            "Origin": "https://evil.example",
        },
    )
    params = session_creates(sandbox)[0]["params"]
    assert params["success_url"].startswith("http://donate.test/")
    assert params["cancel_url"].startswith("http://donate.test/")
