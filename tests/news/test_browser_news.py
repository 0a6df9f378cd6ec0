"""At phone width (375 px) in headless Chromium: the successor notice and the match display.

The news page is served from ``localhost`` while the service answers on ``127.0.0.1`` (two
origins, as on the real web). Screenshots go to test-artifacts/news/ for a person to look at.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service import extensions
from service.donations.models import Donation
from service.models import Appeal
from tests.support.appeal_definitions import RULE, appeal
from tests.support.browser import QuietHandler
from tests.support.browser import axe_violations as violations
from tests.support.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "news"
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
REASON = "This appeal closed on 30 June 2022. The Red Cross is still helping people in Ukraine."
ARTICLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Ukraine, two years on</title></head>
<body><main><h1>Ukraine, two years on</h1><p>An article from the archive.</p>
<p><a href="{app}/donate/{slug}?utm_source=news-example" data-donation-widget>Donate</a></p>
<script src="{app}/embed.js" data-appeal="{slug}" data-lang="en" async></script>
</main></body></html>
"""


@pytest.fixture
def news_appeals(load_appeals: Any) -> None:
    load_appeals(
        appeal("ukraine-2023", title="Ukraine Crisis Appeal", gift_aid_enabled=True, match_funding=[RULE]),
        appeal("ukraine-2022", title="Ukraine Emergency Appeal", closes_at="2022-06-30T23:00:00+00:00",
               successor={"appeal": "ukraine-2023", "reason": REASON}),
    )  # fmt: skip


@pytest.fixture
def news_site(tmp_path: Path, live_server: Any, news_appeals: None) -> Iterator[str]:
    port = free_port()
    origin = f"http://localhost:{port}"
    for slug in ("ukraine-2022", "ukraine-2023"):
        (tmp_path / f"{slug}.html").write_text(ARTICLE.format(app=live_server.url, slug=slug))
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with live_server.app.app_context(), extensions.database(live_server.app).begin() as db:
        for row in db.scalars(select(Appeal)):
            row.allowed_origins = [origin]
    yield origin
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    # The donate page's CSP (rightly) refuses injected scripts; axe is the test's, not the page's.
    context = browser.new_context(**PHONE, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits_the_screen(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_without_scripts_a_closed_appeals_page_offers_the_successor_and_the_donor_confirms(
    live_server: Any, news_appeals: None, browser: Any, sandbox: Any, db_session: Any
) -> None:
    context = browser.new_context(**PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(
            f"{live_server.url}/donate/ukraine-2022?source=https://news.example/2022/ukraine&amount=2500"
        )
        notice = page.locator("#successor-notice")
        assert "This appeal has ended" in notice.inner_text() and REASON in notice.inner_text()
        assert page.locator("form.donate-form").count() == 0
        assert fits_the_screen(page)
        shot(page, "successor-notice-375")

        page.get_by_role("link", name="Give to Ukraine Crisis Appeal instead").click()
        assert (
            "your gift will go to Ukraine Crisis Appeal instead"
            in page.locator("#redirect-notice").inner_text()
        )
        assert page.locator('input[name="amount_choice"][value="2500"]').is_checked()
        assert fits_the_screen(page)
        shot(page, "successor-confirm-375")
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    finally:
        context.close()
    donation = db_session.scalars(select(Donation)).one()
    slugs = {a.id: a.slug for a in db_session.scalars(select(Appeal))}
    assert (slugs[donation.appeal_id], slugs[donation.requested_appeal_id]) == (
        "ukraine-2023",
        "ukraine-2022",
    )
    assert donation.source_url == "https://news.example/2022/ukraine"


def test_the_widget_on_an_old_article_offers_the_successor_and_passes_no_axe_violations(
    news_site: str, live_server: Any, phone: Any
) -> None:
    phone.goto(f"{news_site}/ukraine-2022.html")
    box = phone.locator("[data-donation-router]")
    box.get_by_role("link").wait_for()
    text = box.locator("section").inner_text()
    assert "This appeal has ended" in text and REASON in text
    assert fits_the_screen(phone)
    shot(phone, "widget-successor-375")
    assert violations(phone) == [], json.dumps(violations(phone), indent=1)

    box.get_by_role("link", name="Give to Ukraine Crisis Appeal instead").click()
    phone.wait_for_url(f"{live_server.url}/donate/ukraine-2023?**")
    assert phone.locator('input[name="redirected_from"]').input_value() == "ukraine-2022"
    assert phone.locator('input[name="utm_source"]').input_value() == "news-example"
    assert phone.locator('input[name="source_url"]').input_value() == f"{news_site}/ukraine-2022.html"
    assert violations(phone) == [], json.dumps(violations(phone), indent=1)


def test_the_match_shows_on_the_donate_page_and_in_the_widget_at_phone_width(
    news_site: str, live_server: Any, phone: Any
) -> None:
    phone.goto(f"{live_server.url}/donate/ukraine-2023")
    match = phone.locator("#match-offer-1")
    assert "Matched 1:1 by UK Aid Match until 31 December 2098" in match.inner_text()
    assert "£50 of match funding left" in match.inner_text()
    assert fits_the_screen(phone)
    shot(phone, "match-donate-page-375")
    assert violations(phone) == [], json.dumps(violations(phone), indent=1)

    phone.goto(f"{news_site}/ukraine-2023.html")
    box = phone.locator("[data-donation-router]")
    box.get_by_role("button").first.wait_for()
    assert (
        "Matched 1:1 by UK Aid Match until 31 December 2098 £50 of match funding left"
        in box.locator("section").inner_text()
    )
    assert fits_the_screen(phone)
    shot(phone, "match-widget-375")
    assert violations(phone) == [], json.dumps(violations(phone), indent=1)
