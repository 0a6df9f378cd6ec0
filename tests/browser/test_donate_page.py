"""The donate page as a donor meets it on a phone (375×812), with JavaScript on and off.

Screenshots go to the test's tmp_path (pytest keeps the last runs) for a person to look at.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import get_currency_symbol
from werkzeug.serving import make_server

from service.amount_input import babel_locale_for
from service.currencies import exponent
from service.fees import FEE_RATES, fee_cover_for
from tests.support.browser import axe_violations as violations
from tests.support.servers import LiveServer, free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PHONE = {"width": 375, "height": 812}
CASES = json.loads((Path(__file__).resolve().parents[1] / "amount_input_cases.json").read_text())["cases"]
DONATE = "/donate/red-cross-ukraine"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page with JavaScript; axe is the test's script, so the page's CSP is bypassed."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def phone_no_js(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_the_pages_amount_rule_is_the_servers_case_for_case(phone: Any, live_server: Any) -> None:
    phone.goto(f"{live_server.url}{DONATE}")
    for case in CASES:
        for locale in ("en", "uk"):
            symbol = get_currency_symbol(case["currency"].upper(), babel_locale_for(locale))
            got = phone.evaluate(
                "([t, c, p, l, s]) => window.donateAmountRule.parseAmount(t, c, p, l, s)",
                [case["text"], case["currency"], exponent(case["currency"]), locale, symbol],
            )
            expected = case[locale]
            if "amount" in expected:
                assert got == {"amount": expected["amount"]}, (locale, case["text"])
            else:
                assert got["error"] == expected["error"], (locale, case["text"], got)
                assert got.get("readings", []) == expected.get("readings", []), (locale, case["text"])


def test_the_pages_fee_estimate_is_the_servers(phone: Any, live_server: Any) -> None:
    phone.goto(f"{live_server.url}{DONATE}")
    for currency, rate in FEE_RATES.items():
        basis_points = int(rate.percent * 100)
        for gift in (1, 50, 99, 200, 750, 1050, 2500, 9999, 10000, 123457, 2_500_000, 99_999_999):
            got = phone.evaluate(
                "([g, b, f]) => window.donateAmountRule.feeCover(g, b, f)", [gift, basis_points, rate.fixed]
            )
            assert got == fee_cover_for(gift, currency), (currency, gift)


def test_typing_an_amount_selects_it_and_the_fee_hint_follows(
    phone: Any, live_server: Any, sandbox: Any, tmp_path: Path
) -> None:
    phone.goto(f"{live_server.url}{DONATE}")
    estimate = phone.locator("#fee-estimate")
    assert phone.get_by_label("£25", exact=True).is_checked()
    assert estimate.inner_text() == "About £0.59 on a £25 gift."
    phone.get_by_label("£100", exact=True).check()
    assert estimate.inner_text() == "About £1.73 on a £100 gift."
    phone.get_by_label("Other amount in GBP").fill("7.50")
    assert phone.get_by_label("Other amount", exact=True).is_checked()
    assert estimate.inner_text() == f"About £0.{fee_cover_for(750, 'gbp'):02d} on a £7.50 gift."
    phone.get_by_label("Other amount in GBP").fill("10,50")  # a question for the server, no estimate
    assert estimate.inner_text() == ""
    phone.get_by_label("Other amount in GBP").fill("7.50")
    shot(phone, tmp_path, "typed-amount-js")
    assert violations(phone) == []
    phone.get_by_role("button", name="Continue to payment").click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    assert "£7.50" in phone.content()


def test_without_javascript_the_typed_amount_still_wins_and_the_hint_states_the_rule(
    phone_no_js: Any, live_server: Any, sandbox: Any, tmp_path: Path
) -> None:
    page = phone_no_js
    page.goto(f"{live_server.url}{DONATE}")
    assert page.get_by_label("£25", exact=True).is_checked()
    assert "Processing fees are 1.5% + £0.20 per payment." in page.locator("#cover-hint").inner_text()
    assert not page.locator("#fee-estimate").is_visible()
    page.get_by_label("Other amount in GBP").fill("7.50")
    assert page.get_by_label("£25", exact=True).is_checked()  # nothing changes it without JavaScript
    shot(page, tmp_path, "typed-amount-no-js")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    assert "£7.50" in page.content()


def test_a_picked_suggestion_and_a_typed_amount_make_a_question(
    phone_no_js: Any, live_server: Any, tmp_path: Path
) -> None:
    page = phone_no_js
    page.goto(f"{live_server.url}{DONATE}")
    page.get_by_label("£50", exact=True).check()
    page.get_by_label("Other amount in GBP").fill("7.50")
    page.get_by_role("button", name="Continue to payment").click()
    summary = page.get_by_role("alert")
    assert "You selected £50 and typed £7.50. Which would you like to give?" in summary.inner_text()
    shot(page, tmp_path, "which-amount")
    page.get_by_label("Other amount", exact=True).check()
    page.get_by_role("button", name="Continue to payment").click()
    assert "/c/pay/" in page.url


def test_ukrainian_decimal_comma_and_english_question(
    phone: Any, live_server: Any, sandbox: Any, tmp_path: Path
) -> None:
    phone.goto(f"{live_server.url}{DONATE}")
    phone.get_by_label("Other amount in GBP").fill("10,50")
    phone.get_by_role("button", name="Continue to payment").click()
    assert "Did you mean £10.50? Please type it as 10.50." in phone.get_by_role("alert").inner_text()
    shot(phone, tmp_path, "en-comma-question")
    assert violations(phone) == []

    phone.goto(f"{live_server.url}{DONATE}?lang=uk")
    # A typed 25 gets the same estimate, in the same notation, as the server gives the £25 button.
    phone.locator("#custom_amount").fill("25")
    server = phone.locator('input[name="amount_choice"][value="2500"]').get_attribute("data-fee-estimate")
    assert server == "Приблизно 0,59\xa0GBP для пожертви 25\xa0GBP."
    assert phone.locator("#fee-estimate").inner_text() == server
    phone.locator("#custom_amount").fill("10,50")
    assert phone.locator("#fee-estimate").inner_text().startswith("Приблизно")
    assert violations(phone) == []
    phone.get_by_role("button", name="Перейти до оплати").click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    assert "10.50" in phone.content() or "10,50" in phone.content()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_gift_aid_details_appear_only_when_ticked_and_continue_is_within_two_screens(
    browser: Any, live_server: Any, tmp_path: Path, javascript: bool
) -> None:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, java_script_enabled=javascript, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}{DONATE}")
        shot(page, tmp_path, f"gift-aid-closed-{javascript}")
        assert not page.get_by_label("First name").is_visible()
        button = page.get_by_role("button", name="Continue to payment").bounding_box()
        assert button["y"] + button["height"] <= 2 * PHONE["height"], button
        page.get_by_label("Yes, add Gift Aid", exact=False).check()
        assert page.get_by_label("First name").is_visible()
        assert page.get_by_label("Postcode").is_visible()
        shot(page, tmp_path, f"gift-aid-open-{javascript}")
        if javascript:
            assert violations(page) == []
        page.get_by_label("First name").fill("Olena")
        page.get_by_role("button", name="Continue to payment").click()
        # Still checked on the server: the details asked for are the ones left out.
        alert = page.get_by_role("alert").inner_text()
        assert "Enter your last name for Gift Aid." in alert and "Enter a UK postcode" in alert
        assert page.get_by_label("Last name").is_visible()  # the tick is kept, so are the fields
    finally:
        context.close()


def test_monthly_thanks_on_a_phone(phone: Any, live_server: Any, sandbox: Any, tmp_path: Path) -> None:
    phone.goto(f"{live_server.url}{DONATE}?amount=1000&frequency=monthly")
    phone.get_by_role("button", name="Continue to payment").click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    phone.locator("#pay").click()
    phone.wait_for_url(f"{live_server.url}{DONATE}/thanks?session_id=cs_**")
    text = phone.locator("main").inner_text()
    assert "Your gift of £10 a month to" in text and "monthly gift of" not in text
    assert "Change the amount, update your card or stop your monthly gift" in text
    assert "You can also write to British Red Cross, quoting the reference below." in text
    assert "email" not in text.lower()
    shot(phone, tmp_path, "monthly-thanks")
    assert violations(phone) == []


@pytest.fixture
def limited_server(make_app: Any) -> Iterator[LiveServer]:
    """The app allowing one donation a minute per address."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live_app = make_app(public_base_url=url, rate_limit_donations="1/minute")
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(url, live_app)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_429_is_the_donors_form_with_the_wait_and_their_values(
    phone: Any, limited_server: Any, sandbox: Any, tmp_path: Path
) -> None:
    form = f"{limited_server.url}{DONATE}"
    for _ in range(3):  # mistakes refused by validation do not use up the limit
        phone.goto(form)
        phone.get_by_label("Other amount in GBP").fill("abc")
        phone.get_by_role("button", name="Continue to payment").click()
        assert "Enter the amount as a number" in phone.get_by_role("alert").inner_text()
    phone.goto(form)
    phone.get_by_role("button", name="Continue to payment").click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    phone.goto(form)
    phone.get_by_label("Other amount in GBP").fill("12.34")
    phone.get_by_label("Email address (optional)").fill("donor@example.org")
    with phone.expect_response(lambda r: r.request.method == "POST") as posted:
        phone.get_by_role("button", name="Continue to payment").click()
    assert posted.value.status == 429
    alert = phone.get_by_role("alert").inner_text()
    assert "Please wait" in alert and "second" in alert
    assert phone.locator(".brand").inner_text() == "British Red Cross"
    assert phone.get_by_label("Other amount in GBP").input_value() == "12.34"
    assert phone.get_by_label("Email address (optional)").input_value() == "donor@example.org"
    shot(phone, tmp_path, "rate-limited")
    assert violations(phone) == []


def test_error_pages_and_favicon(phone: Any, live_server: Any, tmp_path: Path) -> None:
    missing_icons: list[str] = []
    phone.on(
        "response", lambda r: missing_icons.append(r.url) if "favicon" in r.url and r.status >= 400 else None
    )
    phone.goto(f"{live_server.url}/donate/no-such-appeal")
    assert phone.get_by_role("heading", level=1).inner_text() == "Page not found"
    body = phone.locator("body").inner_text()
    assert "Donation Router" not in body and "Payments are processed securely" not in body
    shot(phone, tmp_path, "not-found")
    assert violations(phone) == []
    phone.goto(f"{live_server.url}/favicon.ico")
    phone.goto(f"{live_server.url}{DONATE}")
    assert missing_icons == []
