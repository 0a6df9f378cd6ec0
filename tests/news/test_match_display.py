"""Donors see "Matched 1:1 … until …" and what is left; progress keeps raised and matched apart."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest

from tests.support.appeal_definitions import GIFT_AID, RULE, appeal

PROGRESS = "/api/v1/appeals/matched/progress"


@pytest.fixture
def matched_appeal(load_appeals: Any) -> str:
    load_appeals(
        appeal(
            "matched", gift_aid_enabled=True, goal_amount=100000, goal_currency="gbp", match_funding=[RULE]
        )
    )
    return "matched"


def test_the_donate_page_shows_the_match_its_end_and_what_is_left(
    webhooks: str, give: Any, client: Any, matched_appeal: str
) -> None:
    html = unescape(client.get("/donate/matched").get_data(as_text=True))
    assert "Matched 1:1 by UK Aid Match until 31 December 2098" in html
    assert "£50 of match funding left" in html and "Gift Aid declaration" in html
    give(appeal="matched", amount=2000, gift_aid=GIFT_AID)
    assert "£30 of match funding left" in unescape(client.get("/donate/matched").get_data(as_text=True))
    uk = unescape(client.get("/donate/matched?lang=uk").get_data(as_text=True))
    assert "UK Aid Match додає до кожної пожертви у пропорції 1:1" in uk


def test_the_match_is_not_shown_outside_its_window_or_in_another_currency(
    client: Any, load_appeals: Any
) -> None:
    load_appeals(
        appeal(
            "over",
            match_funding=[{**RULE, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2021-01-01T00:00:00Z"}],
        )
    )
    assert "Matched" not in client.get("/donate/over").get_data(as_text=True)
    load_appeals(appeal("euro", match_funding=[RULE]))
    assert "Matched" not in client.get("/donate/euro?currency=eur").get_data(as_text=True)


def test_progress_shows_raised_and_matched_apart_and_keeps_its_fields(
    webhooks: str, give: Any, client: Any, matched_appeal: str, fresh_figures: Any
) -> None:
    give(appeal="matched", amount=2000, gift_aid=GIFT_AID)
    give(appeal="matched", amount=1000)  # no UK evidence: raised, not matched
    fresh_figures()
    body = client.get(PROGRESS + "?lang=en").get_json()
    assert body["raised"] == [{"currency": "gbp", "amount": 3000, "gifts": 2}]
    assert body["percentage"] == 3.0  # the goal counts what donors gave, not the match
    assert body["matched"] == [{"currency": "gbp", "amount": 2000}]
    assert body["match"] == [
        {"funder": "UK Aid Match", "ratio": "1:1", "ends_at": "2099-01-01T00:00:00+00:00",
         "remaining": [{"currency": "gbp", "amount": 3000}]},
    ]  # fmt: skip
    assert body["display"]["matched"] == "£20 matched"
    assert body["display"]["match"][0]["remaining"] == "£30 of match funding left"
    assert body["gifts"] == 2 and body["goal"] == {"amount": 100000, "currency": "gbp"}


def test_the_widget_config_carries_the_match_in_the_readers_language(
    client: Any, matched_appeal: str
) -> None:
    config = client.get("/embed/matched/config.json?lang=en").get_json()
    assert config["match"] == [
        {"headline": "Matched 1:1 by UK Aid Match until 31 December 2098", "remaining": "£50 of match funding left",
         "eligibility": "Only gifts from UK residents are matched: your UK postcode or a Gift Aid declaration shows that you live in the UK."},
    ]  # fmt: skip
