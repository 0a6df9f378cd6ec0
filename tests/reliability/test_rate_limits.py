"""Rate limits on creating donations: per client address, global, Redis-backed with a fallback."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.support.donor_forms import fresh_form

from ..service.helpers import VALID, donation_count

API = "/api/v1/donations"
FORM = "/donate/red-cross-ukraine"


def form_data(n: int) -> dict[str, str]:
    return {"form_token": f"rate-limit-form-{n:04d}-xxxx", "currency": "gbp", "amount_choice": "2500"}


def post_form(client: Any, **fields: str) -> Any:
    return client.post(FORM, data={**fresh_form(client), **fields})


def test_burst_from_one_address_is_limited_with_retry_after(make_app: Any) -> None:
    client = make_app(rate_limit_donations="3/minute").test_client()
    statuses = [client.post(API, json=VALID).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    refused = client.post(API, json=VALID)
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert 0 < error["retry_after"] <= 60
    assert refused.headers["Retry-After"] == str(error["retry_after"])
    assert "donation_router_rate_limited_total" in client.get("/metrics").get_data(as_text=True)


def test_form_and_api_share_one_budget_and_the_form_gets_a_friendly_page(make_app: Any) -> None:
    app = make_app(rate_limit_donations="2/minute")
    client = app.test_client()
    assert client.post(API, json=VALID).status_code == 201
    assert client.post(FORM, data=form_data(1)).status_code == 303
    page = client.post(FORM, data=form_data(2))
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    assert "Please wait" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) > 0
    assert donation_count(app) == 2


def test_viewing_pages_is_not_limited(make_app: Any) -> None:
    client = make_app(rate_limit_donations="1/minute").test_client()
    assert all(client.get(FORM).status_code == 200 for _ in range(5))
    assert all(client.get("/api/v1/appeals").status_code == 200 for _ in range(5))


def test_each_client_address_has_its_own_budget(make_app: Any) -> None:
    client = make_app(rate_limit_donations="1/minute").test_client()
    a = {"REMOTE_ADDR": "198.51.100.1"}
    b = {"REMOTE_ADDR": "198.51.100.2"}
    assert client.post(API, json=VALID, environ_base=a).status_code == 201
    assert client.post(API, json=VALID, environ_base=a).status_code == 429
    assert client.post(API, json=VALID, environ_base=b).status_code == 201


def test_past_the_global_rate_donors_are_not_refused_but_sent_to_the_payment_link(make_app: Any) -> None:
    app = make_app(rate_limit_donations="100/minute", rate_limit_donations_global="2/minute")
    client = app.test_client()

    def give(i: int) -> Any:
        return client.post(API, json=VALID, environ_base={"REMOTE_ADDR": f"203.0.113.{i}"})

    # Without a Payment Link for the appeal, the third donor takes the usual path (a Checkout
    # Session within the Stripe call budget) rather than a 429.
    assert [give(i).get_json()["status"] for i in range(1, 4)] == ["pending"] * 3
    assert app.test_cli_runner().invoke(args=["surge", "payment-links", "create"]).exit_code == 0
    redirected = give(4)
    assert redirected.status_code == 201 and redirected.get_json()["status"] == "surge_redirected"
    assert "client_reference_id=" in redirected.get_json()["checkout_url"]
    monthly = client.post(
        API, json={**VALID, "frequency": "monthly"}, environ_base={"REMOTE_ADDR": "203.0.113.5"}
    )
    assert monthly.status_code == 201 and monthly.get_json()["status"] == "pending"  # a link is one-off


def test_a_burst_from_many_addresses_of_one_network_is_limited(make_app: Any) -> None:
    client = make_app(
        rate_limit_donations="100/minute", rate_limit_donations_network="3/minute"
    ).test_client()
    statuses = [
        client.post(API, json=VALID, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}).status_code
        for i in range(1, 6)
    ]
    assert statuses == [201, 201, 201, 429, 429]
    other_network = client.post(API, json=VALID, environ_base={"REMOTE_ADDR": "198.51.101.1"})
    assert other_network.status_code == 201
    v6 = [
        client.post(API, json=VALID, environ_base={"REMOTE_ADDR": f"2001:db8:1:{i:x}::1"}).status_code
        for i in range(1, 5)
    ]
    assert v6 == [201, 201, 201, 429]  # four /64s of one /48


def test_an_ipv6_client_rotating_addresses_inside_its_64_is_one_client(make_app: Any) -> None:
    client = make_app(rate_limit_donations="2/minute").test_client()
    statuses = [
        client.post(API, json=VALID, environ_base={"REMOTE_ADDR": f"2001:db8:5:7::{i:x}"}).status_code
        for i in range(1, 5)
    ]
    assert statuses == [201, 201, 429, 429]
    mapped = [
        client.post(API, json=VALID, environ_base={"REMOTE_ADDR": address}).status_code
        for address in ("192.0.2.9", "::ffff:192.0.2.9", "192.0.2.9")
    ]
    assert mapped == [201, 201, 429]  # an IPv4-mapped IPv6 address is the IPv4 client


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app: Any) -> None:
    client = make_app(rate_limit_donations="1/minute").test_client()
    # A bot rotating X-Forwarded-For must not get a fresh budget each time.
    assert client.post(API, json=VALID, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 201
    assert client.post(API, json=VALID, headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 429


def test_with_one_trusted_proxy_the_address_it_saw_is_used(make_app: Any) -> None:
    client = make_app(rate_limit_donations="1/minute", trusted_proxy_count=1).test_client()
    # The proxy appends the peer it saw; whatever the client put before that is not believed.
    first = {"X-Forwarded-For": "spoofed, 192.0.2.10"}
    again = {"X-Forwarded-For": "other-spoof, 192.0.2.10"}
    other = {"X-Forwarded-For": "spoofed, 192.0.2.11"}
    assert client.post(API, json=VALID, headers=first).status_code == 201
    assert client.post(API, json=VALID, headers=again).status_code == 429
    assert client.post(API, json=VALID, headers=other).status_code == 201


def test_limits_are_shared_through_redis_between_app_instances(make_app: Any) -> None:
    # Two apps stand for two workers (or two dynos): the count lives in Redis, not in either.
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = {
        "redis_url": "redis://127.0.0.1:6379/15",
        "rate_limit_donations": "2/minute",
        "deployment_id": prefix,
    }
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    assert first.post(API, json=VALID).status_code == 201
    assert second.post(API, json=VALID).status_code == 201
    assert first.post(API, json=VALID).status_code == 429
    assert second.post(API, json=VALID).status_code == 429


def test_redis_down_falls_back_to_in_process_limits_instead_of_refusing_donors(make_app: Any) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0", rate_limit_donations="2/minute")
    client = app.test_client()
    statuses = [client.post(API, json=VALID).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert donation_count(app) == 2


def test_limit_settings_are_validated_at_start_up() -> None:
    from service.settings import SettingsError, load_settings

    loaded = load_settings({"RATE_LIMIT_DONATIONS": "5/minute;20/hour", "TRUSTED_PROXY_COUNT": "1"})
    assert loaded.rate_limit_donations == "5/minute;20/hour" and loaded.trusted_proxy_count == 1
    try:
        load_settings({"RATE_LIMIT_DONATIONS": "lots", "RATE_LIMIT_DONATIONS_GLOBAL": "1/fortnight",
                       "TRUSTED_PROXY_COUNT": "9", "WEBHOOK_PAYLOAD_RETENTION_DAYS": "0"})  # fmt: skip
    except SettingsError as exc:
        problems = "\n".join(exc.problems)
    else:
        raise AssertionError("bad limits were accepted")
    for name in ("RATE_LIMIT_DONATIONS ", "RATE_LIMIT_DONATIONS_GLOBAL", "TRUSTED_PROXY_COUNT",
                 "WEBHOOK_PAYLOAD_RETENTION_DAYS"):  # fmt: skip
        assert name in problems


@pytest.mark.parametrize("kept_in", ["process", "redis"])
def test_refused_attempts_do_not_use_up_the_donors_limit(make_app: Any, kept_in: str) -> None:
    # Each refused attempt is counted, then given back (Counts.give_back) once its answer is known.
    storage = (
        {"redis_url": "redis://127.0.0.1:6379/15", "deployment_id": f"test-{uuid.uuid4().hex[:8]}"}
        if kept_in == "redis"
        else {}
    )
    app = make_app(rate_limit_donations="3/minute", **storage)
    client = app.test_client()
    for _ in range(8):  # a donor fighting the amount box, and a client sending bad JSON
        assert post_form(client, amount_choice="custom", custom_amount="10,50").status_code == 422
        assert client.post("/api/v1/donations", json={**VALID, "amount": 1}).status_code == 422
    assert post_form(client, amount_choice="2500").status_code == 303
    assert client.post("/api/v1/donations", json=VALID).status_code == 201


def test_the_429_page_is_the_donors_own_form_with_the_wait_in_words(make_app: Any) -> None:
    client = make_app(rate_limit_donations="1/minute").test_client()
    assert post_form(client, amount_choice="2500").status_code == 303
    data = {
        **fresh_form(client),
        "amount_choice": "custom",
        "custom_amount": "12.34",
        "email": "d@example.org",
    }
    page = client.post(FORM, data=data)
    html = page.get_data(as_text=True)
    assert page.status_code == 429
    wait = int(page.headers["Retry-After"])
    assert 0 < wait <= 60
    assert re.search(rf"Please wait {wait} seconds?, then press “Continue to payment” again", html)
    assert '<span class="brand">British Red Cross</span>' in html and "Donation Router" not in html
    assert 'value="12.34"' in html and 'value="d@example.org"' in html
    assert f'name="form_token" value="{data["form_token"]}"' in html  # resubmitting is the same gift


def test_with_redis_down_the_network_limit_still_holds_in_process(make_app: Any) -> None:
    app = make_app(
        redis_url="redis://127.0.0.1:1/0",
        rate_limit_donations="100/minute",
        rate_limit_donations_network="2/minute",
    )
    client = app.test_client()
    statuses = [
        client.post(API, json=VALID, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}).status_code
        for i in range(1, 4)
    ]
    assert statuses == [201, 201, 429]
