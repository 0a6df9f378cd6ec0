"""The widget on a news page of another origin, in headless Chromium; the plain link without scripts.

The news page is a static file served by ``http.server`` on its own port under ``localhost``,
while the service answers on ``127.0.0.1``: two origins, as on the real web.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from service.fees import fee_cover_for
from service.models import Appeal, Donation, DonationStatus, Payment, utcnow
from tests.browser.conftest import free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"
NEWS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Winter in Kharkiv</title>
<style>a {{ display: inline-block; color: #00e; }} section, p {{ all: unset; }}</style></head>
<body><main><h1>Winter in Kharkiv</h1>
<p>Families are preparing for a winter without heating.</p>
<p><a href="{app}/donate/red-cross-ukraine?utm_source=news-example&amp;utm_campaign=winter" data-donation-widget>
Donate to the Red Cross Emergency Appeal</a></p>
{script}
</main></body></html>
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # the test output is not an access log
        pass


@pytest.fixture
def news_site(tmp_path: Path, live_server: Any) -> Iterator[str]:
    """A static news site on http://localhost:<port>, listed in the appeal's allowed origins."""
    port = free_port()
    origin = f"http://localhost:{port}"
    script = f'<script src="{live_server.url}/embed.js" data-appeal="red-cross-ukraine" data-lang="en" async></script>'
    (tmp_path / "article.html").write_text(NEWS_PAGE.format(app=live_server.url, script=script))
    (tmp_path / "no-script.html").write_text(NEWS_PAGE.format(app=live_server.url, script=""))
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with live_server.app.app_context(), live_server.app.extensions["database"].begin() as db:
        db.execute(update(Appeal).values(allowed_origins=[origin]))
        paid_gift(db)
    yield origin
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def paid_gift(db: Any) -> None:
    """£25 the ledger has received, so the progress bar has something to show."""
    appeal = db.query(Appeal).one()
    donation = Donation(
        appeal=appeal, amount=2500, currency="gbp", frequency="one_off", status=DonationStatus.PAID
    )
    db.add(donation)
    db.flush()
    db.add(Payment(donation_id=donation.id, kind="one_off", stripe_payment_intent_id="pi_seeded",
                   amount=2500, currency="gbp", paid_at=utcnow()))  # fmt: skip


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    yield context
    context.close()


def widget(page: Any) -> Any:
    return page.locator("[data-donation-router]")


def test_widget_renders_with_progress_and_carries_choice_and_source_to_the_donate_page(
    news_site: str, live_server: Any, context: Any, sandbox: Any
) -> None:
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{news_site}/article.html")
    box = widget(page)
    assert "£25 raised of £500,000 · 1 gift" in box.locator("section").inner_text()
    assert page.get_by_role("link", name="Donate to the Red Cross Emergency Appeal").is_hidden()

    box.get_by_label("Give monthly").check()
    box.get_by_label("£50").check()
    cover = fee_cover_for(5000, "gbp")
    box.get_by_label(f"Add £{cover / 100:.2f} so the charity receives my whole gift").check()
    box.get_by_role("button", name="Donate monthly").click()

    page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine?**")
    assert page.locator('input[name="frequency"][value="monthly"]').is_checked()
    assert page.locator('input[name="amount_choice"][value="5000"]').is_checked()
    assert page.locator('input[name="utm_source"]').input_value() == "news-example"
    assert page.locator('input[name="utm_campaign"]').input_value() == "winter"
    assert page.locator('input[name="source_url"]').input_value() == f"{news_site}/article.html"
    assert page.locator('input[name="cover_fees"]').is_checked()

    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
    params = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")[-1]["params"]
    assert params["mode"] == "subscription"
    assert params["line_items"][0]["price_data"]["unit_amount"] == str(5000 + cover)
    assert params["metadata"]["utm_source"] == "news-example"
    assert params["metadata"]["source_url"] == f"{news_site}/article.html"
    assert params["metadata"]["referrer_host"] == "localhost"


def test_widget_adds_exactly_one_global(news_site: str, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{news_site}/no-script.html")
    before = set(page.evaluate("Object.keys(window)"))
    page.goto(f"{news_site}/article.html")
    widget(page).get_by_role("button").first.wait_for()
    assert set(page.evaluate("Object.keys(window)")) - before == {"DonationRouter"}


def test_unlisted_site_keeps_the_plain_link(news_site: str, live_server: Any, context: Any) -> None:
    with live_server.app.app_context(), live_server.app.extensions["database"].begin() as db:
        db.execute(update(Appeal).values(allowed_origins=["https://elsewhere.example"]))
    page = context.new_page()
    page.goto(f"{news_site}/article.html")
    page.wait_for_load_state("networkidle")
    assert widget(page).count() == 0
    assert page.get_by_role("link", name="Donate to the Red Cross Emergency Appeal").is_visible()


def test_without_scripts_the_plain_link_still_donates(
    news_site: str, live_server: Any, browser: Any, sandbox: Any
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{news_site}/article.html")
        assert widget(page).count() == 0
        page.get_by_role("link", name="Donate to the Red Cross Emergency Appeal").click()
        page.wait_for_url(f"{live_server.url}/donate/red-cross-ukraine?**")
        page.get_by_label("£25").check()
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_url(f"{sandbox.base_url}/c/pay/**")
        params = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")[-1]["params"]
        assert params["metadata"]["utm_source"] == "news-example"
        # Without a script only the Referer tells the page, and browsers send just the origin
        # across sites (strict-origin-when-cross-origin); a link's own ?source= is exact.
        assert params["metadata"]["source_url"] == f"{news_site}/"
        assert params["metadata"]["referrer_host"] == "localhost"
    finally:
        context.close()


def serious_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_widget_and_donate_page_have_no_serious_accessibility_violations(
    news_site: str, live_server: Any, browser: Any
) -> None:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/bootstrap dev", pytrace=False)
    # The donate page's CSP (rightly) refuses injected scripts; axe is the test's, not the page's.
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{news_site}/article.html")
        widget(page).get_by_role("button").first.wait_for()
        assert serious_violations(page) == [], json.dumps(serious_violations(page), indent=1)
        for lang in ("en", "uk"):
            page.goto(f"{live_server.url}/donate/red-cross-ukraine?lang={lang}")
            assert serious_violations(page) == []
        page.goto(f"{live_server.url}/embed/snippet/red-cross-ukraine")
        widget(page).get_by_role("button").first.wait_for()
        assert serious_violations(page) == []
    finally:
        context.close()
