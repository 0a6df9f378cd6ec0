"""Finance staff in a real browser: sign in with a token, read the dashboard and a timeline."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def laptop_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_accountant_signs_in_reads_dashboard_and_a_donations_timeline(
    laptop_page: Any, live_server: Any, built_ledger: Any, issue: Any
) -> None:
    page = laptop_page
    page.goto(f"{live_server.url}/finance/donations/{built_ledger.refunded}")
    page.wait_for_url("**/finance/sign-in?next=**")
    # Keyboard only: the token field has focus on arrival and Enter submits.
    page.wait_for_function("document.activeElement && document.activeElement.tagName === 'INPUT'")
    page.keyboard.type(issue("accountant"))
    page.keyboard.press("Enter")

    # A predicate, not a glob: the sign-in URL itself carries the donation path in ?next=.
    page.wait_for_url(lambda url: url.split("?")[0].endswith(f"/finance/donations/{built_ledger.refunded}"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Donation")
    timeline = page.get_by_role("list", name="Timeline")
    assert "checkout.session.completed" in timeline.inner_text()
    assert "charge.refunded" in timeline.inner_text()

    page.get_by_role("link", name="Dashboard").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    totals = page.get_by_role("table", name="Totals per appeal and currency")
    text = totals.inner_text()
    assert "red-cross-ukraine" in text and "£65" in text and "€50" in text
    assert page.locator("svg.chart").count() == 2  # one chart per currency, never mixed
    assert page.get_by_role("img", name="Gross donations per day in GBP").count() == 1
    assert page.get_by_role("link", name="Payments (CSV)").is_visible()
