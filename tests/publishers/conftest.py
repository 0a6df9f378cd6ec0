"""Publishers fixtures: a news site on another origin that embeds the widget."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.models import Appeal, Payment, utcnow
from tests.support.browser import QuietHandler
from tests.support.servers import free_port

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
    with live_server.app.app_context(), extensions.database(live_server.app).begin() as db:
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
