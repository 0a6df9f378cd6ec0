"""A monthly donor manages their gift in a real browser at phone width, through the sandbox's portal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from service import create_app, extensions
from service.manage import manage_token
from tests.browser.conftest import free_port
from tests.conftest import TEST_WEBHOOK_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture
def site(app: Any, sandbox: Any) -> Iterator[tuple[str, Any]]:
    """The service on a real socket, PUBLIC_BASE_URL pointing at it, the sandbox's webhooks flowing to it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = create_app(
        {"TESTING": True}, settings=extensions.settings(app).with_overrides(public_base_url=url)
    )
    server = make_server("127.0.0.1", port, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.control.configure_webhooks(urls=[f"{url}/webhooks/stripe"], secrets=[TEST_WEBHOOK_SECRET])
    yield url, live
    sandbox.control.configure_webhooks(urls=[])
    sandbox.control.wait_for_webhooks(timeout=5)
    server.shutdown()
    thread.join(timeout=5)
    extensions.database(live).engine.dispose()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_monthly_donor_changes_amount_updates_card_and_stops_at_375px(site, phone, sandbox):
    from service.donations import DonationRequest, create_donation
    from service.donations.models import Donation

    url, live = site
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
