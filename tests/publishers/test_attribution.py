"""Attribution: the source travels from the link into the donation, Stripe metadata and reports."""

from __future__ import annotations

from typing import Any

from service import extensions
from service.attribution import clean_page_url
from service.source_totals import totals_by_source

ARTICLE = "https://news.example/world/2026/ukraine-winter?id=5&session=secret#comments"
SOURCE = {
    "url": ARTICLE,
    "referrer": "https://social.example/p/123?ref=abc",
    "utm_source": "news-example",
    "utm_medium": "embed",
    "utm_campaign": "winter\x00appeal",
}


def test_source_is_cleaned_stored_and_sent_to_stripe_as_metadata(give: Any, sandbox: Any) -> None:
    donation = give(pay=False, source=SOURCE)
    assert donation.source_url == "https://news.example/world/2026/ukraine-winter"
    assert donation.referrer_host == "social.example"
    assert (donation.utm_source, donation.utm_medium) == ("news-example", "embed")
    assert donation.utm_campaign == "winterappeal"  # control characters dropped
    params = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")[-1]["params"]
    for metadata in (params["metadata"], params["payment_intent_data"]["metadata"]):
        assert metadata["source_url"] == "https://news.example/world/2026/ukraine-winter"
        assert metadata["referrer_host"] == "social.example"
        assert metadata["utm_source"] == "news-example"
        assert metadata["utm_campaign"] == "winterappeal"


def test_overlong_and_odd_sources_are_refused_or_limited(client: Any) -> None:
    long_tag = client.post(
        "/api/v1/donations",
        json={
            "appeal": "red-cross-ukraine",
            "amount": 2500,
            "currency": "gbp",
            "source": {"utm_source": "x" * 201},
        },
    )
    assert long_tag.status_code == 422
    script = client.post(
        "/api/v1/donations",
        json={
            "appeal": "red-cross-ukraine",
            "amount": 2500,
            "currency": "gbp",
            "source": {"url": "javascript:alert(1)"},
        },
    )
    assert script.status_code == 422
    assert clean_page_url("ftp://example.org/x") is None
    assert clean_page_url("https://user:pw@news.example:8443/a?b=c") == "https://news.example:8443/a"


def test_finance_totals_group_money_received_by_source(
    webhooks: str, give: Any, db_session: Any, sandbox: Any
) -> None:
    give(source=SOURCE, cover_fees=True)
    give(source=SOURCE, amount=5000)
    give(source={"url": "https://other.example/live"}, amount=1000)
    give(pay=False, source=SOURCE, amount=9900)
    rows = {row.source_url: row for row in totals_by_source(db_session)}
    article = rows["https://news.example/world/2026/ukraine-winter"]
    assert (article.gifts, article.gift_amount, article.currency) == (2, 7500, "gbp")
    assert article.fee_cover_amount > 0
    assert article.received_amount == 7500 + article.fee_cover_amount
    assert (article.utm_source, article.utm_campaign) == ("news-example", "winterappeal")
    assert rows["https://other.example/live"].gift_amount == 1000
    assert rows["https://other.example/live"].referrer_host == "other.example"


def test_publisher_summary_lists_pages_and_totals_without_personal_data(
    webhooks: str, give: Any, client: Any
) -> None:
    give(source=SOURCE, email="reader@example.org")
    give(source=SOURCE, amount=1000, currency="eur")
    response = client.get("/api/v1/appeals/red-cross-ukraine/sources")
    assert response.status_code == 200
    assert "public" in response.headers["Cache-Control"] and response.headers["ETag"]
    [source] = response.get_json()["sources"]
    assert source == {
        "source_url": "https://news.example/world/2026/ukraine-winter",
        "referrer_host": "social.example",
        "utm_source": "news-example",
        "utm_campaign": "winterappeal",
        "gifts": 2,
        "raised": {"gbp": 2500, "eur": 1000},
    }
    text = response.get_data(as_text=True)
    assert "reader@example.org" not in text and "secret" not in text and "don_" not in text
    etag = response.headers["ETag"]
    assert (
        client.get("/api/v1/appeals/red-cross-ukraine/sources", headers={"If-None-Match": etag}).status_code
        == 304
    )


def test_finance_payments_export_shows_source_and_fee_cover_apart(
    webhooks: str, give: Any, client: Any, app: Any
) -> None:
    import csv
    import io

    from service.finance import tokens

    donation = give(source=SOURCE, cover_fees=True, anonymous=True)
    with app.app_context(), extensions.database(app).begin() as db:
        secret = tokens.create_token(db, name="t", role="accountant", days=1, appeals=None).secret
    response = client.get("/api/v1/finance/payments", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    [row] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert row["amount_minor"] == str(2500 + donation.fee_cover_amount)
    assert row["fee_cover_minor"] == str(donation.fee_cover_amount)
    assert (row["anonymous"], row["gift_aid"]) == ("true", "false")
    assert row["source_url"] == "https://news.example/world/2026/ukraine-winter"
    assert row["utm_source"] == "news-example"
