"""The one-off receipt's "make it monthly" link (service/make_monthly.py): signed, expiring, a new gift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from itsdangerous import TimestampSigner
from sqlalchemy import update

from service import create_app, extensions
from service.donations.models import Donation
from service.models import Appeal
from tests.lifecycle.smtp import SmtpServer
from tests.support.gifts import pay


@pytest.fixture
def offer_mail_app(app: Flask, smtp: SmtpServer) -> Iterator[Flask]:
    settings = extensions.settings(app).with_overrides(
        mail_url=smtp.url, mail_from="Red Cross <giving@redcross.test>", monthly_offer=True
    )
    built = create_app({"TESTING": True}, settings=settings)
    yield built
    extensions.database(built).engine.dispose()
    from service.jobs import init_jobs

    init_jobs(app, extensions.settings(app))


def _paid_receipt(
    app: Flask, sandbox: Any, smtp: SmtpServer, locale: str | None = None
) -> tuple[Any, str, str]:
    from tests.support.servers import serving_webhooks

    with serving_webhooks(app, sandbox):
        donation = pay(sandbox, app, locale=locale)
    (message,) = smtp.mailbox.messages
    return donation, message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def _link(text: str) -> str:
    found = re.search(r"http://donate\.test(/give-monthly/[A-Za-z0-9_.-]+(?:\?lang=uk)?)", text)
    assert found, text
    return found.group(1)


def test_one_off_receipt_invites_a_new_monthly_gift_prefilled(
    offer_mail_app: Flask, sandbox: Any, smtp: SmtpServer
) -> None:
    donation, text, html = _paid_receipt(offer_mail_app, sandbox, smtp)
    assert "Would you give £9 every month?" in text and "Make it monthly" in html
    link = _link(text)
    assert link == _link(html.replace("&amp;", "&"))
    client = offer_mail_app.test_client()
    response = client.get(link)
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert target.path == "/donate/red-cross-ukraine"
    assert parse_qs(target.query) == {
        "frequency": ["monthly"], "amount": ["900"], "currency": ["gbp"],
        "utm_source": ["receipt"], "utm_medium": ["email"], "utm_campaign": ["make-it-monthly"],
    }  # fmt: skip
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="monthly" checked' in form and 'name="custom_amount" value="9.00"' in form
    # Nothing about the paid gift changed, and no new donation exists until the donor submits.
    with extensions.database(offer_mail_app).sessionmaker() as db:
        (paid,) = db.query(Donation).all()
        assert (paid.id, paid.frequency, paid.amount, paid.status) == (donation.id, "one_off", 2500, "paid")


def test_the_invitation_in_ukrainian(offer_mail_app: Flask, sandbox: Any, smtp: SmtpServer) -> None:
    _, text, html = _paid_receipt(offer_mail_app, sandbox, smtp, locale="uk")
    assert "Чи могли б ви давати 9\xa0GBP щомісяця?" in text and "Давати щомісяця" in html
    response = offer_mail_app.test_client().get(_link(text))
    assert "lang=uk" in response.headers["Location"]


def test_no_invitation_where_monthly_gifts_are_not_offered(
    offer_mail_app: Flask, sandbox: Any, smtp: SmtpServer
) -> None:
    with extensions.database(offer_mail_app).sessionmaker.begin() as db:
        db.execute(update(Appeal).values(monthly_offer=False))
    extensions.appeal_cache(offer_mail_app).clear()
    _, text, html = _paid_receipt(offer_mail_app, sandbox, smtp)
    assert "give-monthly" not in text and "give-monthly" not in html


def test_forged_tampered_and_expired_links_change_nothing(
    offer_mail_app: Flask, sandbox: Any, smtp: SmtpServer, monkeypatch: Any
) -> None:
    _, text, _html = _paid_receipt(offer_mail_app, sandbox, smtp)
    link = _link(text)
    client = offer_mail_app.test_client()
    assert client.get(link[:-2] + ("xx" if not link.endswith("xx") else "yy")).status_code == 404
    assert client.get("/give-monthly/not-a-token").status_code == 404
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 61 * 86_400)
    expired = client.get(link)
    assert expired.status_code == 410 and "60 days" in expired.get_data(as_text=True)
    with extensions.database(offer_mail_app).sessionmaker() as db:
        assert db.query(Donation).count() == 1
