"""The monthly offer in a real browser at 375 px, without JavaScript: accept it and pay monthly,
or decline it in Ukrainian and pay once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from service import create_app, extensions
from service.donations.models import Donation
from tests.support.servers import free_port
from tests.support.settings import TEST_WEBHOOK_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture
def site(app: Any, sandbox: Any, monkeypatch: Any) -> Iterator[tuple[str, Any]]:
    from service.donations import surge

    monkeypatch.setattr(surge, "_last_redirect", float("-inf"))  # a surge test earlier in this process
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = extensions.settings(app).with_overrides(public_base_url=url, monthly_offer=True)
    live = create_app({"TESTING": True}, settings=settings)
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
    from service.jobs import init_jobs

    init_jobs(app, extensions.settings(app))


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _donation(live: Any) -> Donation:
    with extensions.database(live).sessionmaker() as db:
        (found,) = db.query(Donation).all()
        db.expunge(found)
        return found


def test_a_one_off_donor_makes_it_monthly_and_pays_at_375px(site: Any, phone: Any, sandbox: Any) -> None:
    url, live = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.goto(f"{url}/donate/red-cross-ukraine")
    phone.get_by_label("£50").check()
    phone.get_by_role("button", name="Continue to payment").click()

    phone.wait_for_url(f"{url}/donate/red-cross-ukraine/choose/**")
    assert phone.get_by_role("heading", level=1).inner_text() == "Would you make it monthly?"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    monthly = phone.get_by_role("button", name="Give £15 a month")
    once = phone.get_by_role("button", name="No thanks, give £50 once")
    for button in (monthly, once):  # both whole-width, thumb-sized targets
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 300
    phone.screenshot(path=str(SHOTS / "monthly-offer-375.png"), full_page=True)
    focused = []
    for _ in range(8):  # the keyboard reaches both answers, monthly first
        phone.keyboard.press("Tab")
        focused.append(phone.evaluate("document.activeElement.value || ''"))
    assert "monthly" in focused and focused.index("monthly") < focused.index("once")
    monthly.click()

    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    assert "£15" in phone.content()
    phone.locator("#pay").click()
    phone.wait_for_url(f"{url}/donate/red-cross-ukraine/thanks?session_id=cs_**")
    assert phone.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert phone.locator(".gift-amount").inner_text() == "£15"
    phone.screenshot(path=str(SHOTS / "monthly-offer-thanks-375.png"), full_page=True)
    donation = _donation(live)
    assert (donation.frequency, donation.amount, donation.one_off_amount, donation.status) == (
        "monthly", 1500, 5000, "paid",
    )  # fmt: skip
    assert donation.stripe_subscription_id


def test_declining_in_ukrainian_pays_once_at_375px(site: Any, phone: Any, sandbox: Any) -> None:
    url, live = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.goto(f"{url}/donate/red-cross-ukraine?lang=uk&amount=2500")
    phone.locator('button[type="submit"]').click()
    phone.wait_for_url(f"{url}/donate/red-cross-ukraine/choose/**")
    assert phone.get_by_role("heading", level=1).inner_text() == "Може, щомісяця?"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.screenshot(path=str(SHOTS / "monthly-offer-uk-375.png"), full_page=True)
    phone.get_by_role("button", name="Ні, дякую, дати 25\xa0GBP один раз").click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    donation = _donation(live)
    assert (donation.frequency, donation.amount, donation.monthly_offer) == ("one_off", 2500, "declined")
    # Back from Checkout to the offer: the choice is made; a plain page leads on to the same payment.
    phone.go_back()
    phone.reload()
    assert phone.get_by_role("heading", level=1).inner_text() == "Ви вже зробили вибір"
    phone.get_by_role("link", name="Continue to payment").or_(
        phone.get_by_role("link", name="Перейти до оплати")
    ).click()
    phone.wait_for_url(f"{sandbox.base_url}/c/pay/**")
