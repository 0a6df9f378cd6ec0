"""The month-end pages in a real browser at phone and laptop width: the donations list with its
dropdowns, a payout statement, the month-end report and a finance error page, each with no
axe-core violation. Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.models import utcnow
from tests.support.browser import ARTIFACTS, SIZES, finance_sign_in
from tests.support.browser import axe_violations as violations

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.mark.parametrize("size", SIZES)
def test_month_end_pages_read_well_at_phone_and_laptop_width(
    browser: Any, live_server: Any, built_ledger: Any, issue: Any, finance_get: Any, size: str
) -> None:
    payout = next(r for r in finance_get("/payouts").get_json()["data"] if r["currency"] == "gbp")
    context = browser.new_context(viewport=SIZES[size], bypass_csp=True, is_mobile=size == "375")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        finance_sign_in(page, live_server.url, issue("accountant"))

        page.goto(f"{live_server.url}/finance/donations")
        page.get_by_label("Frequency").select_option("monthly")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**frequency=monthly**")
        table = page.get_by_role("table").inner_text()
        assert built_ledger.monthly in table and "£30.00" in table and built_ledger.paid not in table
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        page.screenshot(path=str(ARTIFACTS / f"finance-donations-{size}.png"), full_page=True)

        page.goto(f"{live_server.url}/finance/payouts/{payout['stripe_payout_id']}")
        page.get_by_role("link", name="Statement: every transaction").click()
        assert page.get_by_role("status").inner_text().startswith("These ")
        assert "the amount paid to the bank" in page.get_by_role("status").inner_text()
        assert page.get_by_role("link", name="Xero bank statement (CSV)").is_visible()
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        page.screenshot(path=str(ARTIFACTS / f"finance-payout-statement-{size}.png"), full_page=True)

        page.get_by_role("link", name="Month end").click()
        assert page.get_by_role("heading", level=1).inner_text() == f"Month end: {utcnow():%Y-%m}"
        assert page.get_by_role("heading", name="Balance in GBP").is_visible()
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        page.screenshot(path=str(ARTIFACTS / f"finance-month-end-{size}.png"), full_page=True)

        page.goto(f"{live_server.url}/finance/donations?appeal=no-such-appeal")
        assert page.get_by_role("heading", level=1).inner_text() == "Check the filters"
        assert page.get_by_role("navigation", name="Finance").is_visible()
        assert "No appeal is called 'no-such-appeal'." in page.inner_text("main")
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        page.screenshot(path=str(ARTIFACTS / f"finance-error-{size}.png"), full_page=True)
    finally:
        context.close()
