"""Lifecycle fixtures: a real SMTP server, an app that sends its mail there, and a paid monthly gift."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from service import extensions
from tests.lifecycle.smtp import SmtpServer
from tests.support.ledger import delivered, donation_row
from tests.support.servers import serving_webhooks


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app: Flask, smtp: SmtpServer, make_app: Callable[..., Flask]) -> Flask:
    """An app whose mail goes to ``smtp`` (jobs in-process, as in the demo)."""
    return make_app(mail_url=smtp.url, mail_from="Red Cross <giving@redcross.test>")


@pytest.fixture
def monthly(mail_app, sandbox, smtp) -> Any:
    """A paid monthly gift of £10, its receipt sent over SMTP, webhooks flowing to the app."""
    from service.donations import DonationRequest, create_donation

    with serving_webhooks(mail_app, sandbox) as url:
        with mail_app.app_context():
            db = extensions.database(mail_app).sessionmaker()
            request = DonationRequest(appeal="red-cross-ukraine", amount=1000, currency="gbp",
                                      frequency="monthly", email="monthly@example.org")  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(mail_app), extensions.settings(mail_app), request
            )
            db.close()
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
        delivered(sandbox)
        yield donation_row(mail_app, donation.id), url
