"""The hosted checkout page: plain HTML over HTTP (no JavaScript needed), and a
headless Chromium click-through (marked ``browser``)."""

from __future__ import annotations

import re

import pytest
import requests

# The ``browser`` fixture (one headless /usr/bin/chromium per test process: Playwright's
# sync API allows only one) comes from tests/browser_support.py, loaded by pyproject.toml.


def _post(url: str, **form: str) -> requests.Response:
    return requests.post(url, data={"action": "pay", **form}, allow_redirects=False, timeout=5)


def test_page_shows_item_amount_and_is_self_contained(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "Gaza emergency appeal" in html and "£5.00" in html
    assert "name=viewport" in html and "<script" not in html
    assert not re.search(r"""(src|href)=["']?https?://""", html)  # no external resources
    assert "id=email" in html  # no customer_email given, so the field is offered


def test_subscription_page_says_per_month(stripe_client, monthly):
    session = stripe_client.v1.checkout.sessions.create(params=monthly(customer_email="known@example.org"))
    html = requests.get(session.url, timeout=5).text
    assert "£5.00" in html and "per month" in html
    assert "id=email" not in html


def test_card_payment_redirects_with_session_id(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    resp = _post(session.url, method="card", card_number="4242 4242 4242 4242",
                 email="donor@example.org")  # fmt: skip
    assert resp.status_code == 303
    assert resp.headers["Location"] == (f"https://donate.example/thanks?session_id={session.id}")
    got = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (got.status, got.payment_status) == ("complete", "paid")
    assert got.customer_details.email == "donor@example.org"
    assert "is complete" in requests.get(session.url, timeout=5).text


def test_declined_card_stays_with_error(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    resp = _post(session.url, method="card", card_number="4000 0000 0000 0002")
    assert resp.status_code == 402
    assert "Your card was declined." in resp.text and "role=alert" in resp.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_bank_debit_completes_unpaid(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    assert _post(session.url, method="bank_debit_fails").status_code == 303
    got = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (got.status, got.payment_status) == ("complete", "unpaid")


def test_cancel_goes_to_cancel_url(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    resp = requests.post(session.url, data={"action": "cancel"}, allow_redirects=False, timeout=5)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "https://donate.example/appeal/gaza"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_expired_and_unknown_sessions(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    stripe_client.v1.checkout.sessions.expire(session.id)
    expired = requests.get(f"{sandbox.base_url}/c/pay/{session.id}", timeout=5)
    assert expired.status_code == 410 and "expired" in expired.text
    assert requests.get(f"{sandbox.base_url}/c/pay/cs_test_nope", timeout=5).status_code == 404


# --------------------------------------------------------------------------- browser


@pytest.fixture
def page(browser, sandbox):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    # The donor's site is not running; answer its pages locally so redirects land.
    page.route("https://donate.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<h1>Thank you</h1>"))  # fmt: skip
    yield page
    context.close()


@pytest.mark.browser
def test_browser_card_success_redirects(stripe_client, page, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    page.goto(session.url)
    assert page.get_by_role("heading", name="Gaza emergency appeal").is_visible()
    page.get_by_label("Email").fill("browser@example.org")
    page.get_by_role("button", name="Pay £5.00").click()
    page.wait_for_url("https://donate.example/thanks**")
    assert page.url == f"https://donate.example/thanks?session_id={session.id}"
    got = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert got.payment_status == "paid" and got.customer_details.email == "browser@example.org"


@pytest.mark.browser
def test_browser_declined_card_shows_error(stripe_client, page, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    page.goto(session.url)
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_role("button", name="Pay £5.00").click()
    assert page.get_by_role("alert").inner_text() == "Your card was declined."
    assert page.url == session.url
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


@pytest.mark.browser
def test_browser_cancel_goes_to_cancel_url(stripe_client, page, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    page.goto(session.url)
    page.get_by_role("button", name="Cancel and return").click()
    page.wait_for_url("https://donate.example/appeal/gaza")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
