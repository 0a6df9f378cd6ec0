"""A reader's whole journey in a real browser: news page → donate page → Checkout → thank-you."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_reader_donates_from_a_news_story_and_sees_thanks(live_server: Any, page: Any, sandbox: Any) -> None:
    page.goto(f"{live_server.url}/news/sample")
    page.get_by_role("link", name="click here").click()

    page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine?**")
    assert page.get_by_role("heading", level=1).inner_text() == "Red Cross Emergency Appeal (Ukraine)"
    page.get_by_label("£50").check()
    page.get_by_label("Email address (optional)").fill("reader@example.org")
    page.get_by_role("button", name="Continue to payment").click()

    page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    assert "£50" in page.content()
    page.locator("#pay").click()

    page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine/thanks?session_id=cs_**")
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert page.locator(".gift-amount").inner_text() == "£50"


def test_invalid_amount_is_explained_on_the_page(live_server: Any, page: Any) -> None:
    page.goto(f"{live_server.url}/donate/red-cross-ukraine")
    page.get_by_label("Other amount", exact=True).check()
    page.get_by_label("Other amount in GBP").fill("0.50")
    page.get_by_role("button", name="Continue to payment").click()
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    assert "The minimum gift is £2." in summary.inner_text()


def test_donor_who_cancels_at_checkout_can_try_again(live_server: Any, page: Any, sandbox: Any) -> None:
    page.goto(f"{live_server.url}/donate/red-cross-ukraine?amount=2500&frequency=monthly")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    page.locator("#cancel").click()
    page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine/cancelled?**")
    assert "You have not been charged" in page.content()
    page.get_by_role("link", name="Try again").click()
    assert page.locator('input[name="frequency"][value="monthly"]').is_checked()
    assert page.locator('input[name="amount_choice"][value="2500"]').is_checked()
