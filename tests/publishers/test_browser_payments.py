"""At phone width in headless Chromium: the widget's currency choice and a bank debit's thank-you page."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.support.browser import ARTIFACTS, widget
from tests.support.browser import axe_violations as violations

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_widget_opens_in_the_readers_currency_and_offers_every_other(
    news_site: str,
    live_server: Any,
    browser: Any,
) -> None:
    # A German reader: Accept-Language de-DE. The appeal takes pounds, euros and dollars.
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="de-DE", bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{news_site}/article.html")
        box = widget(page)
        picker = box.get_by_label("Currency")
        picker.wait_for()
        assert picker.input_value() == "eur"
        assert [o.lower() for o in picker.locator("option").all_inner_texts()] == ["gbp", "eur", "usd"]
        assert box.get_by_label("€25").is_checked()  # the euro suggestions, second one preselected
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-currency-375.png"), full_page=True)
        assert violations(page) == [], json.dumps(violations(page), indent=1)

        picker.select_option("gbp")
        assert box.get_by_label("Currency").input_value() == "gbp"
        assert box.get_by_label("£50").is_visible()
        assert page.evaluate("document.activeElement.getAttribute('data-donation-router')") is not None
        box.get_by_label("£50").check()
        box.get_by_role("button", name="Donate").click()
        page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine?**")
        assert page.locator('input[name="currency"]').input_value() == "gbp"
        assert page.locator('input[name="amount_choice"][value="5000"]').is_checked()
    finally:
        context.close()


def test_donate_page_in_the_readers_currency_at_phone_width(live_server: Any, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="fr-FR", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/donate/red-cross-ukraine")
        assert "Amount (EUR)" in page.locator("form").inner_text()
        page.screenshot(path=str(ARTIFACTS / "donate-currency-375.png"), full_page=True)
        assert violations(page) == []
        page.get_by_role("link", name="GBP").click()
        assert "Amount (GBP)" in page.locator("form").inner_text()
    finally:
        context.close()


def test_bank_debit_thank_you_page_at_phone_width(
    live_server: Any,
    browser: Any,
    sandbox: Any,
) -> None:
    created = requests.post(
        f"{live_server.url}/api/v1/donations",
        json={"appeal": "red-cross-ukraine", "amount": 3000, "currency": "eur"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport={"width": 375, "height": 812}, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(created.json()["checkout_url"])
        # The donor picks SEPA Direct Debit on (the sandbox's) Checkout; the bank answers days later.
        page.get_by_label("Bank debit — settles later").check()
        page.get_by_role("button", name="Pay").click()
        page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine/thanks?**")
        text = page.locator("main").inner_text()
        assert "your payment is processing" in text
        assert "Your debit by SEPA Direct Debit from the account ending 3000 will be taken on" in text
        page.screenshot(path=str(ARTIFACTS / "debit-thanks-375.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        assert violations(page) == [], json.dumps(violations(page), indent=1)
    finally:
        context.close()


def test_donor_chooses_direct_debit_for_a_monthly_gift_at_phone_width(
    live_server: Any,
    browser: Any,
    sandbox: Any,
) -> None:
    """Issue 17: the donate page's own Direct Debit choice, refused in plain words when Bacs cannot
    take the gift, then a monthly Bacs gift whose first debit is on its way."""
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="en-GB", bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/donate/red-cross-ukraine?currency=gbp")
        choice = page.get_by_role("group", name="How would you like to pay?")
        assert not choice.is_visible()  # Bacs is for monthly gifts: the choice waits for "Give monthly"
        page.get_by_label("Give monthly").check()
        assert "Bacs Direct Debit, for monthly gifts of £2 or more" in choice.inner_text()
        choice.get_by_label("Direct Debit from my bank account").check()
        page.get_by_label("£25").check()
        # The donor changes their mind to a one-off gift: refused in words, nothing created.
        page.get_by_label("Give once").check()
        assert not choice.is_visible()
        page.get_by_role("button", name="Continue to payment").click()
        summary = page.get_by_role("alert")
        assert "Bacs Direct Debit is for monthly gifts only." in summary.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "debit-choice-refused-375.png"), full_page=True)
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        assert page.get_by_label("Direct Debit from my bank account").is_checked()  # kept, and shown
        assert page.get_by_role("group", name="How would you like to pay?").is_visible()

        page.get_by_label("Give monthly").check()
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
        # Checkout offers the scheme the donor chose, and nothing else.
        assert page.get_by_label("Card number").count() == 0
        page.get_by_label("Bank debit — settles later").check()
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine/thanks?**")
        text = page.locator("main").inner_text()
        assert "your payment is processing" in text and "a month" in text
        assert "Your debit by Bacs Direct Debit from the account ending 3000 will be taken on" in text
        page.screenshot(path=str(ARTIFACTS / "monthly-debit-thanks-375.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert violations(page) == [], json.dumps(violations(page), indent=1)
    finally:
        context.close()
