"""The donate page opens in the currency the donor probably uses, and always lets them change it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from service.donor_currency import preferred_currency
from service.settings import SettingsError, load_settings

FORM = "/donate/red-cross-ukraine"
APPEAL = ("gbp", "eur", "usd")


@pytest.mark.parametrize(
    ("languages", "country", "expected"),
    [
        (["de-DE", "de"], None, "eur"),
        (["de"], None, "eur"),  # a language alone, where it means one currency
        (["en-IE", "en"], None, "eur"),  # the region wins over the language
        (["en-US"], None, "usd"),
        (["en"], None, "gbp"),  # English says nothing: the appeal's default
        (["ja-JP", "fr"], None, "eur"),  # first currency the appeal takes, in the browser's order
        (["uk-UA", "uk"], None, "gbp"),  # hryvnia is not taken: the default
        (["en-GB"], "FR", "eur"),  # a trusted country beats the language
        (["de"], "XX", "eur"),  # Cloudflare's "unknown" is no country
        ([], "us", "usd"),
        (["*"], None, "gbp"),
    ],
)
def test_preferred_currency(languages: list[str], country: str | None, expected: str) -> None:
    assert preferred_currency(APPEAL, "gbp", languages=languages, country=country) == expected


def page_currency(client: Any, query: str = "", **headers: str) -> str:
    html = client.get(FORM + query, headers=headers).get_data(as_text=True)
    found = re.search(r'<input type="hidden" name="currency" value="([a-z]{3})">', html)
    assert found, "the form carries its currency"
    return found.group(1)


def test_the_page_opens_in_the_currency_of_the_donors_language(client: Any) -> None:
    assert page_currency(client, **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}) == "eur"
    assert page_currency(client, **{"Accept-Language": "en-US"}) == "usd"
    assert page_currency(client, **{"Accept-Language": "en-GB,en"}) == "gbp"
    # A link that names a currency is the publisher's choice and wins.
    assert page_currency(client, "?currency=gbp", **{"Accept-Language": "de-DE"}) == "gbp"


def test_the_choice_is_visible_with_per_currency_suggestions_and_the_others_a_click_away(
    client: Any,
) -> None:
    html = client.get(FORM, headers={"Accept-Language": "fr-FR"}).get_data(as_text=True)
    assert "Amount (EUR)" in html
    assert "€25" in html  # the appeal's euro suggestions, not pounds relabelled
    others = re.search(r"Give in another currency:(.*?)</p>", html, re.S)
    assert others and "GBP" in others.group(1) and "USD" in others.group(1)


def test_a_country_header_is_believed_only_when_the_deployment_names_it(client: Any, make_app: Any) -> None:
    # Not configured: anyone can send CF-IPCountry, so it is ignored.
    assert page_currency(client, **{"CF-IPCountry": "US", "Accept-Language": "en-GB"}) == "gbp"
    behind_cdn = make_app(country_header="CF-IPCountry").test_client()
    assert page_currency(behind_cdn, **{"CF-IPCountry": "US", "Accept-Language": "en-GB"}) == "usd"
    assert page_currency(behind_cdn, **{"CF-IPCountry": "T1", "Accept-Language": "de"}) == "eur"


def test_country_header_setting_must_be_a_header_name() -> None:
    assert load_settings({"COUNTRY_HEADER": "CF-IPCountry"}).country_header == "CF-IPCountry"
    with pytest.raises(SettingsError) as caught:
        load_settings({"COUNTRY_HEADER": "CF IPCountry:"})
    assert "COUNTRY_HEADER" in str(caught.value)


def test_widget_config_suggests_the_readers_currency_and_lists_every_one(client: Any, make_app: Any) -> None:
    config = client.get("/embed/red-cross-ukraine/config.json", headers={"Accept-Language": "nl-NL"})
    body = config.get_json()
    assert body["preferred_currency"] == "eur" and body["default_currency"] == "gbp"
    assert [c["code"] for c in body["currencies"]] == ["gbp", "eur", "usd"]
    assert "Accept-Language" in config.headers["Vary"]
    trusting = make_app(country_header="CF-IPCountry")
    answer = trusting.test_client().get(
        "/embed/red-cross-ukraine/config.json", headers={"CF-IPCountry": "US"}
    )
    assert answer.get_json()["preferred_currency"] == "usd"
    assert "CF-IPCountry" in answer.headers["Vary"]  # a CDN must not serve one country's answer to another
