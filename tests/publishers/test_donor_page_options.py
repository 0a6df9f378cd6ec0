"""The donate page's options and languages, posted as a browser without JavaScript would."""

from __future__ import annotations

import re
from typing import Any

from service.fees import fee_cover_for
from tests.service.helpers import load_donation, session_creates
from tests.support.donor_forms import FORM, fresh_form

GIFT_AID_FORM = {
    "gift_aid": "1",
    "gift_aid_first_name": "Olena",
    "gift_aid_last_name": "Smith-Jones",
    "gift_aid_house": "Flat 2, 12",
    "gift_aid_postcode": "sw1a1aa",
}


def submit(client: Any, query: str = "", **fields: str) -> Any:
    return client.post(FORM + query, data={**fresh_form(client, query), "amount_choice": "2500", **fields})


def donation_behind(response: Any, app: Any, sandbox: Any) -> Any:
    assert response.status_code == 303, response.get_data(as_text=True)
    return load_donation(app, session_creates(sandbox)[-1]["params"]["client_reference_id"])


def test_page_states_the_fee_rule_and_each_suggestions_estimate(client: Any) -> None:
    html = client.get(FORM + "?amount=2500").get_data(as_text=True)
    assert 'name="cover_fees" value="1"' in html
    # Without JavaScript the hint states the rule, true whatever amount is chosen...
    assert "Processing fees are 1.5% + £0.20 per payment. You&#39;ll see the total before you pay." in html
    assert "About £0.59 on a £25 gift" not in re.sub(r'data-fee-estimate="[^"]*"', "", html)
    # ...and each suggestion carries its own estimate for donate.js to show when it is chosen.
    assert 'value="2500" data-fee-estimate="About £0.59 on a £25 gift."' in html
    assert 'value="10000" data-fee-estimate="About £1.73 on a £100 gift."' in html


def test_covering_the_fee_adds_it_to_what_stripe_charges(client: Any, app: Any, sandbox: Any) -> None:
    donation = donation_behind(submit(client, cover_fees="1"), app, sandbox)
    cover = fee_cover_for(2500, "gbp")
    assert (donation.amount, donation.fee_cover_amount) == (2500, cover)
    price = session_creates(sandbox)[-1]["params"]["line_items"][0]["price_data"]
    assert price["unit_amount"] == str(2500 + cover)
    assert "£25 plus £0.59 to cover processing fees" in price["product_data"]["description"]


def test_link_can_pretick_fee_cover_but_never_gift_aid(client: Any) -> None:
    html = client.get(FORM + "?cover_fees=1&gift_aid=1").get_data(as_text=True)
    assert re.search(r'name="cover_fees" value="1"[^>]*checked', html)
    assert not re.search(r'name="gift_aid" value="1"[^>]*checked', html)


def test_anonymous_choice_is_recorded(client: Any, app: Any, sandbox: Any) -> None:
    assert donation_behind(submit(client, anonymous="1"), app, sandbox).anonymous is True


def test_gift_aid_declaration_is_shown_and_stored(client: Any, app: Any, sandbox: Any) -> None:
    html = client.get(FORM).get_data(as_text=True)
    assert (
        "I want to Gift Aid my donation and any donations I make in the future to British Red Cross." in html
    )
    assert '<label for="gift_aid_postcode"' in html
    donation = donation_behind(submit(client, **GIFT_AID_FORM), app, sandbox)
    assert donation.gift_aid is True
    assert (donation.gift_aid_house, donation.gift_aid_postcode) == ("Flat 2, 12", "SW1A 1AA")
    assert donation.gift_aid_wording_version == "hmrc-model-2026-1"


def test_gift_aid_needs_name_and_address_when_ticked(client: Any) -> None:
    response = submit(client, gift_aid="1", gift_aid_postcode="nowhere")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in ("Enter your first name for Gift Aid.", "Enter a UK postcode, like SW1A 1AA."):
        assert message in html
    assert 'href="#field-gift_aid_postcode"' in html and 'id="field-gift_aid_postcode"' in html


def test_address_fields_are_ignored_without_the_tick(client: Any, app: Any, sandbox: Any) -> None:
    donation = donation_behind(submit(client, gift_aid_first_name="Olena"), app, sandbox)
    assert donation.gift_aid is False and donation.gift_aid_first_name is None


def test_gift_aid_is_not_offered_for_other_currencies(client: Any) -> None:
    assert 'name="gift_aid"' not in client.get(FORM + "?currency=eur").get_data(as_text=True)


def test_page_speaks_ukrainian_when_asked(client: Any) -> None:
    for response in (
        client.get(FORM + "?lang=uk"),
        client.get(FORM, headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.6"}),
    ):
        html = response.get_data(as_text=True)
        assert '<html lang="uk">' in html
        assert "Перейти до оплати" in html and "Як часто?" in html
        assert "25\xa0GBP" in html  # money in the Ukrainian format
        assert 'hreflang="en"' in html  # a way back to English
    assert '<html lang="en">' in client.get(FORM, headers={"Accept-Language": "de"}).get_data(as_text=True)


def test_errors_are_in_the_donors_language(client: Any) -> None:
    response = submit(client, "?lang=uk", amount_choice="custom", custom_amount="1")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Виникла проблема" in html and "Мінімальна пожертва — 2\xa0GBP." in html


def test_language_travels_to_checkout_and_back(client: Any, app: Any, sandbox: Any) -> None:
    donation = donation_behind(submit(client, "?lang=uk"), app, sandbox)
    assert donation.locale == "uk"
    params = session_creates(sandbox)[-1]["params"]
    assert params["success_url"].endswith("&lang=uk")
    assert params["cancel_url"].endswith("&lang=uk")
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    thanks = client.get(f"{FORM}/thanks?session_id={donation.stripe_checkout_session_id}&lang=uk")
    assert "Дякуємо" in thanks.get_data(as_text=True)


def test_thank_you_page_mentions_the_fee_cover(client: Any, app: Any, sandbox: Any) -> None:
    donation = donation_behind(submit(client, cover_fees="1"), app, sandbox)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    html = client.get(f"{FORM}/thanks?session_id={donation.stripe_checkout_session_id}").get_data(
        as_text=True
    )
    assert "You also added £0.59 to cover the processing fees" in html


def test_checkout_names_the_gift_in_the_donors_language(client: Any, app: Any, sandbox: Any) -> None:
    donation_behind(submit(client, "?lang=uk", cover_fees="1"), app, sandbox)
    product = session_creates(sandbox)[-1]["params"]["line_items"][0]["price_data"]["product_data"]
    assert product["name"] == "Пожертва: Red Cross Emergency Appeal (Ukraine)"
    assert product["description"] == (
        "Для British Red Cross: ваша пожертва 25\xa0GBP і 0,59\xa0GBP на покриття комісії за обробку платежу"
    )
