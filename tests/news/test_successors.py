"""Links that outlive their appeal: the donor is told, offered the successor, and confirms."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from service.donations.models import Donation
from service.models import Appeal
from tests.support.appeal_definitions import appeal

ARTICLE = "https://news.example/2022/03/ukraine-appeal"
PAST = "2022-06-30T23:00:00+00:00"
REASON = "This appeal closed on 30 June 2022. The Red Cross is still helping people in Ukraine."


def _hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


@pytest.fixture
def closed_with_successor(load_appeals: Any) -> None:
    load_appeals(
        appeal("ukraine-2023", title="Ukraine Crisis Appeal"),
        appeal(
            "ukraine-2022", title="Ukraine Emergency Appeal", closes_at=PAST,
            successor={"appeal": "ukraine-2023", "reason": REASON},
        ),
    )  # fmt: skip


def test_a_closed_appeals_page_says_so_and_offers_its_successor_with_the_article_kept(
    client: Any, closed_with_successor: None
) -> None:
    page = client.get(f"/donate/ukraine-2022?utm_source=news&source={ARTICLE}&amount=2500&currency=gbp")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "This appeal has ended" in html and REASON in html
    assert 'name="form_token"' not in html  # no form that would pay the closed appeal
    offer = next(h for h in _hrefs(html) if h.startswith("/donate/ukraine-2023"))
    assert "from=ukraine-2022" in offer and "utm_source=news" in offer and "source=https" in offer

    landing = client.get(offer).get_data(as_text=True)
    assert "You followed a link to Ukraine Emergency Appeal" in unescape(landing)
    assert 'name="redirected_from" value="ukraine-2022"' in landing
    assert f'name="source_url" value="{ARTICLE}"' in landing


def test_the_confirmed_gift_records_the_requested_appeal_where_it_went_and_the_article(
    client: Any, closed_with_successor: None, db_session: Any
) -> None:
    landing = client.get(f"/donate/ukraine-2023?from=ukraine-2022&source={ARTICLE}&utm_source=news")
    token = re.search(r'name="form_token" value="([^"]+)"', landing.get_data(as_text=True)).group(1)
    posted = client.post(
        "/donate/ukraine-2023",
        data={"form_token": token, "currency": "gbp", "amount_choice": "2500", "frequency": "one_off",
              "redirected_from": "ukraine-2022", "source_url": ARTICLE, "utm_source": "news"},
    )  # fmt: skip
    assert posted.status_code == 303, posted.get_data(as_text=True)
    donation = db_session.scalars(select(Donation)).one()
    ids = {a.slug: a.id for a in db_session.scalars(select(Appeal))}
    assert (donation.appeal_id, donation.requested_appeal_id) == (ids["ukraine-2023"], ids["ukraine-2022"])
    assert (donation.source_url, donation.utm_source) == (ARTICLE, "news")


def test_a_direct_gift_records_its_own_appeal_as_requested(client: Any, db_session: Any) -> None:
    response = client.post(
        "/api/v1/donations", json={"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp"}
    )
    assert response.status_code == 201
    donation = db_session.scalars(select(Donation)).one()
    assert donation.requested_appeal_id == donation.appeal_id


def test_the_api_refuses_a_closed_appeal_naming_its_successor_and_takes_a_confirmed_redirect(
    client: Any, closed_with_successor: None, db_session: Any
) -> None:
    gift = {"amount": 2500, "currency": "gbp"}
    refused = client.post("/api/v1/donations", json={**gift, "appeal": "ukraine-2022"})
    assert refused.status_code == 422
    message = refused.get_json()["error"]["fields"]["appeal"][0]
    assert "'ukraine-2023'" in message and "redirected_from" in message
    assert db_session.scalars(select(Donation)).first() is None

    detail = client.get("/api/v1/appeals/ukraine-2022").get_json()
    assert detail["successor"]["appeal"] == "ukraine-2023" and detail["successor"]["reason"] == "ended"
    assert detail["successor"]["message"] == REASON
    assert client.get("/api/v1/appeals/ukraine-2023").get_json()["successor"] is None

    made = client.post(
        "/api/v1/donations", json={**gift, "appeal": "ukraine-2023", "redirected_from": "ukraine-2022"}
    )
    assert made.status_code == 201
    donation = db_session.get(Donation, made.get_json()["id"])
    assert donation.requested_appeal_id != donation.appeal_id


def test_a_redirect_the_requested_appeal_does_not_offer_is_refused(
    client: Any, closed_with_successor: None
) -> None:
    body = {
        "amount": 2500,
        "currency": "gbp",
        "appeal": "red-cross-ukraine",
        "redirected_from": "ukraine-2022",
    }
    response = client.post("/api/v1/donations", json=body)
    assert response.status_code == 422
    assert "redirected_from" in response.get_json()["error"]["fields"]


def test_a_chain_is_followed_to_the_first_open_appeal_and_the_general_fund_can_be_named(
    client: Any, load_appeals: Any
) -> None:
    load_appeals(
        appeal("general", title="Where Most Needed", general_fund=True),
        appeal("second", closes_at=PAST, successor={"general_fund": True, "reason": "Closed too."}),
        appeal("first", closes_at=PAST, successor={"appeal": "second", "reason": "Closed."}),
    )
    html = client.get("/donate/first").get_data(as_text=True)
    assert "Give to Where Most Needed instead" in html
    assert any(h.startswith("/donate/general?from=first") for h in _hrefs(html))


def test_a_funded_appeal_that_asks_for_it_stops_and_offers_its_successor(
    webhooks: str, give: Any, client: Any, load_appeals: Any, fresh_figures: Any
) -> None:
    load_appeals(
        appeal("next-appeal"),
        appeal("small", goal_amount=2500, goal_currency="gbp",
               successor={"appeal": "next-appeal", "reason": "Fully funded: thank you.", "when_funded": True}),
    )  # fmt: skip
    assert 'name="form_token"' in client.get("/donate/small").get_data(as_text=True)
    give(appeal="small", amount=2500)
    fresh_figures()
    html = client.get("/donate/small").get_data(as_text=True)
    assert "This appeal has reached its goal" in html and "Fully funded: thank you." in html
    refused = client.post("/api/v1/donations", json={"appeal": "small", "amount": 2500, "currency": "gbp"})
    assert (
        refused.status_code == 422
        and "reached its goal" in refused.get_json()["error"]["fields"]["appeal"][0]
    )


def _load_file(runner: Any, tmp_path: Path, definitions: list[dict[str, Any]]) -> Any:
    path = tmp_path / "appeals.yaml"
    path.write_text(yaml.safe_dump({"appeals": definitions}))
    return runner.invoke(args=["appeals", "load", str(path)])


@pytest.mark.parametrize(
    ("definitions", "field", "words"),
    [
        ([appeal("a", successor={"appeal": "nowhere", "reason": "r"})], "[0] a.successor.appeal", "No appeal 'nowhere'"),
        ([appeal("a", successor={"appeal": "a", "reason": "r"})], "[0] a.successor.appeal", "its own successor"),
        (
            [appeal("a", successor={"appeal": "b", "reason": "r"}), appeal("b", successor={"appeal": "a", "reason": "r"})],
            "[0] a.successor.appeal", "loop: a -> b -> a",
        ),
        ([appeal("a", successor={"general_fund": True, "reason": "r"})], "[0] a.successor.general_fund", "general_fund: true"),
        ([appeal("a", successor={"reason": "r"})], "[0] a.successor.appeal", "either an appeal"),
        ([appeal("a", successor={"appeal": "red-cross-ukraine", "reason": "r", "when_funded": True})],
         "[0] a.successor.when_funded", "goal_amount"),
    ],
)  # fmt: skip
def test_loading_refuses_bad_successors_naming_the_field(
    runner: Any, tmp_path: Path, db_session: Any, definitions: list[dict[str, Any]], field: str, words: str
) -> None:
    result = _load_file(runner, tmp_path, definitions)
    assert result.exit_code == 1
    assert field in result.output and words in result.output, result.output
    assert db_session.scalar(select(Appeal).where(Appeal.slug == "a")) is None


def test_a_loop_through_an_appeal_already_loaded_is_refused(
    runner: Any, tmp_path: Path, load_appeals: Any
) -> None:
    load_appeals(appeal("old", successor={"appeal": "red-cross-ukraine", "reason": "r"}))
    seed = {"slug": "red-cross-ukraine", "title": "Red Cross", "charity_name": "British Red Cross",
            "currencies": ["gbp"], "successor": {"appeal": "old", "reason": "r"}}  # fmt: skip
    result = _load_file(runner, tmp_path, [seed])
    assert result.exit_code == 1 and "loop: red-cross-ukraine -> old -> red-cross-ukraine" in result.output


def test_finance_sees_redirected_gifts_per_original_appeal_in_the_report_and_csv(
    client: Any, closed_with_successor: None, finance_get: Any
) -> None:
    gift = {"amount": 2500, "currency": "gbp"}
    client.post(
        "/api/v1/donations", json={**gift, "appeal": "ukraine-2023", "redirected_from": "ukraine-2022"}
    )
    client.post("/api/v1/donations", json={**gift, "appeal": "ukraine-2023"})
    rows = finance_get("/donations", role="viewer").get_json()["data"]
    assert sorted((r["appeal"], r["requested_appeal"] or "") for r in rows) == [
        ("ukraine-2023", ""), ("ukraine-2023", "ukraine-2022"),
    ]  # fmt: skip
    only = finance_get("/donations?requested_appeal=ukraine-2022", role="viewer").get_json()
    assert [r["requested_appeal"] for r in only["data"]] == ["ukraine-2022"]
    csv = finance_get("/donations?format=csv").get_data(as_text=True)
    assert csv.splitlines()[0].split(",")[:3] == ["donation_id", "appeal", "requested_appeal"]
    assert ",ukraine-2023,ukraine-2022," in csv


def test_the_widget_config_of_a_closed_appeal_offers_its_successor(
    client: Any, closed_with_successor: None
) -> None:
    config = client.get("/embed/ukraine-2022/config.json?lang=uk").get_json()
    assert config["is_open"] is False
    assert config["successor"]["appeal"] == "ukraine-2023" and config["successor"]["reason"] == "ended"
    assert config["successor"]["url"].endswith("/donate/ukraine-2023?from=ukraine-2022")
    assert "{successor}" in config["text"]["instead"] and config["text"]["ended_title"]
    assert client.get("/embed/ukraine-2023/config.json").get_json()["successor"] is None
