"""Finance's monthly gifts page (stopped and at risk) in a real browser, at phone and laptop width:
a gift whose card failed, one the donor stopped in the portal with a reason and a comment, the
filter, and no axe-core violation. Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from service import extensions
from service.manage import manage_token
from tests.support.browser import ARTIFACTS, SIZES, finance_sign_in
from tests.support.browser import axe_violations as violations
from tests.support.finance import donate, stored_donation

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _stopped_by_its_donor(app: Any, client: Any, sandbox: Any) -> str:
    """A £20 monthly gift, paid once, that its donor stops in the portal, saying why."""
    donation_id = donate(client, 2000, frequency="monthly")
    sandbox.control.complete_session(stored_donation(app, donation_id).stripe_checkout_session_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    token = manage_token(extensions.settings(app), stored_donation(app, donation_id))
    portal = client.post(f"/manage/{token}/stop").headers["Location"]
    requests.post(portal, data={"action": "cancel", "feedback": "too_expensive", "comment": "moving abroad"},
                  allow_redirects=False, timeout=10)  # fmt: skip
    assert sandbox.control.wait_for_webhooks(timeout=20)
    return donation_id


@pytest.mark.parametrize("size", SIZES)
def test_monthly_gifts_page_reads_well_at_phone_and_laptop_width(
    browser: Any,
    app: Any,
    client: Any,
    live_server: Any,
    sandbox: Any,
    built_ledger: Any,
    issue: Any,
    size: str,
) -> None:
    at_risk = stored_donation(app, built_ledger.monthly)
    sandbox.control.advance_subscription(at_risk.stripe_subscription_id, "failed")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    stopped = _stopped_by_its_donor(app, client, sandbox)

    context = browser.new_context(viewport=SIZES[size], bypass_csp=True, is_mobile=size == "375")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        finance_sign_in(page, live_server.url, issue("accountant"))
        page.goto(f"{live_server.url}/finance/monthly-gifts")
        assert page.get_by_role("heading", level=1).inner_text() == "Monthly gifts: stopped and at risk"

        risky = page.get_by_role("table", name="At risk now (1)").inner_text()
        assert built_ledger.monthly in risky and "past due" in risky and "£15.00" in risky
        assert "Per month at risk: £15.00" in page.inner_text("main")
        ended = page.get_by_role("table", name="Stopped").inner_text()
        assert stopped in ended and "donor (portal)" in ended and "too expensive" in ended
        assert "moving abroad" in ended and "£20.00" in ended
        assert page.get_by_role("link", name="Download the gifts at risk (CSV)").is_visible()
        assert violations(page) == [], json.dumps(violations(page), indent=1)
        page.screenshot(path=str(ARTIFACTS / f"finance-monthly-gifts-{size}.png"), full_page=True)

        # A range that ends before today leaves the stopped gift out; the gift at risk stays.
        page.get_by_label("Stopped from").fill("2020-01-01")
        page.get_by_label("to", exact=True).fill("2020-01-31")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**from=2020-01-01**")
        assert (
            "No monthly gift stopped in this period."
            in page.get_by_role("table", name="Stopped").inner_text()
        )
        assert built_ledger.monthly in page.get_by_role("table", name="At risk now (1)").inner_text()
        assert violations(page) == [], json.dumps(violations(page), indent=1)
    finally:
        context.close()
