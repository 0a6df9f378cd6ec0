"""A monthly donor manages their gift in a real browser at phone width, through the sandbox's portal."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import extensions
from service.manage import manage_token

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"


def test_monthly_donor_changes_amount_updates_card_and_stops_at_375px(live_server, phone, sandbox):
    from service.donations import DonationRequest, create_donation
    from service.donations.models import Donation

    url, live = live_server.url, live_server.app
    with live.app_context():
        db = extensions.database(live).sessionmaker()
        request = DonationRequest(appeal="red-cross-ukraine", amount=1000, currency="gbp", frequency="monthly",
                                  email="phone@example.org")  # fmt: skip
        donation, _ = create_donation(db, extensions.stripe_gateway(live), extensions.settings(live), request)
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
        assert sandbox.control.wait_for_webhooks(timeout=20)
        donation = db.get(Donation, donation.id, populate_existing=True)
        token = manage_token(extensions.settings(live), donation)
        db.close()
    SHOTS.mkdir(parents=True, exist_ok=True)

    phone.goto(f"{url}/manage/{token}")
    assert phone.get_by_role("heading", level=1).inner_text() == "Your monthly gift"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    phone.screenshot(path=str(SHOTS / "manage-375.png"), full_page=True)

    phone.get_by_label("New monthly amount (GBP)").fill(" 12.50 ")
    phone.get_by_role("button", name="Change amount").click()
    assert "your monthly gift is now £12.50" in phone.get_by_role("status").inner_text()

    phone.get_by_role("button", name="Update card").click()
    phone.wait_for_url(f"{sandbox.base_url}/p/session/**")
    phone.screenshot(path=str(SHOTS / "portal-card-375.png"), full_page=True)
    phone.get_by_role("button", name="Update").click()
    phone.wait_for_url(f"{url}/manage/{token}?done=payment_method_update&lang=en")
    assert "Your next payment will use them" in phone.get_by_role("status").inner_text()

    phone.get_by_role("button", name="Stop my monthly gift").click()
    phone.wait_for_url(f"{sandbox.base_url}/p/session/**")
    phone.get_by_label("I no longer want to give").check()
    phone.screenshot(path=str(SHOTS / "portal-cancel-375.png"), full_page=True)
    phone.get_by_role("button", name="Cancel subscription").click()
    phone.wait_for_url(f"{url}/manage/{token}?done=subscription_cancel&lang=en")
    assert phone.get_by_role("heading", level=1).inner_text() == "Your monthly gift has stopped"
    phone.screenshot(path=str(SHOTS / "manage-stopped-375.png"), full_page=True)

    assert sandbox.control.wait_for_webhooks(timeout=20)
    with extensions.database(live).sessionmaker() as db:
        row = db.get(Donation, donation.id)
        assert (row.status, row.amount, row.cancellation_feedback) == ("cancelled", 1250, "unused")
    phone.goto(f"{url}/manage/{token}")
    assert phone.get_by_role("heading", level=1).inner_text() == "This gift has already stopped"
