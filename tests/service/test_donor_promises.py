"""What a donor types is what they are charged, and the pages promise only what the service does.

Posted as a browser without JavaScript would; tests/browser/test_donate_page.py clicks the same
points in Chromium at phone width.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.donor_forms import FORM, fresh_form, thanks_url

from .helpers import VALID, donation_count, load_donation, session_creates

GIFT_AID = {
    "gift_aid": "1",
    "gift_aid_first_name": "Olena",
    "gift_aid_last_name": "Smith",
    "gift_aid_house": "12",
    "gift_aid_postcode": "SW1A 1AA",
}


def post(client: Any, query: str = "", **fields: str) -> Any:
    return client.post(FORM + query, data={**fresh_form(client, query), **fields})


def charged(response: Any, app: Any, sandbox: Any) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    return load_donation(app, session_creates(sandbox)[-1]["params"]["client_reference_id"]).amount


def test_ukrainian_page_reads_a_decimal_comma(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, "?lang=uk", amount_choice="custom", custom_amount="10,50")
    assert charged(response, app, sandbox) == 1050  # once read as 1,050.00


def test_english_page_asks_about_a_comma_instead_of_charging_100_times_more(client: Any, app: Any) -> None:
    response = post(client, amount_choice="custom", custom_amount="10,50")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Did you mean £10.50? Please type it as 10.50." in html
    assert 'value="10,50"' in html  # what the donor typed stays in the box
    assert donation_count(app) == 0


def test_typed_amount_wins_over_the_preselected_suggestion(client: Any, app: Any, sandbox: Any) -> None:
    form = client.get(FORM).get_data(as_text=True)
    assert re.search(r'value="2500"[^>]*\schecked', form)
    assert '<input type="hidden" name="amount_preselected" value="2500">' in form
    # The donor types 7.50 and never touches the preselected £25 radio.
    response = post(client, amount_choice="2500", amount_preselected="2500", custom_amount="7.50")
    assert charged(response, app, sandbox) == 750


def test_typed_amount_beside_a_suggestion_the_donor_picked_is_a_question(client: Any, app: Any) -> None:
    response = post(client, amount_choice="5000", amount_preselected="2500", custom_amount="7.50")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "You selected £50 and typed £7.50. Which would you like to give?" in html
    assert re.search(r'value="5000"[^>]*\schecked', html) and 'value="7.50"' in html
    assert donation_count(app) == 0


def test_a_suggestion_alone_is_charged_as_chosen(client: Any, app: Any, sandbox: Any) -> None:
    assert charged(post(client, amount_choice="5000", amount_preselected="2500"), app, sandbox) == 5000


def test_limits_are_stated_as_money_in_the_donors_language(client: Any) -> None:
    low = post(client, amount_choice="custom", custom_amount="1").get_data(as_text=True)
    assert "The minimum gift is £2." in low and "minor units" not in low
    high = post(client, amount_choice="custom", custom_amount="1,000,000").get_data(as_text=True)
    assert "The maximum gift is £25,000." in high
    uk = post(client, "?lang=uk", amount_choice="custom", custom_amount="0,49").get_data(as_text=True)
    assert "Мінімальна пожертва — 2\xa0GBP." in uk


def test_the_api_keeps_its_codes_and_minor_units(client: Any) -> None:
    error = client.post("/api/v1/donations", json={**VALID, "amount": 100}).get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"]["amount"] == ["The minimum gift is 200 (£2) in minor units."]


def test_gift_aid_details_sit_behind_the_tick_and_are_still_checked(client: Any, app: Any) -> None:
    html = client.get(FORM).get_data(as_text=True)
    details = html[html.index('<div class="gift-aid-details"') :]
    assert details.index('id="gift_aid_first_name"') < details.index("</fieldset>")
    with client.get("/static/donor.css") as response:
        css = response.get_data(as_text=True)
    assert '.gift-aid:not(:has(input[name="gift_aid"]:checked)) .gift-aid-details { display: none; }' in css
    response = post(client, amount_choice="2500", **{**GIFT_AID, "gift_aid_postcode": ""})
    assert response.status_code == 422
    assert "Enter a UK postcode" in response.get_data(as_text=True)
    assert donation_count(app) == 0


def test_unticked_gift_aid_ignores_half_filled_details(client: Any, app: Any, sandbox: Any) -> None:
    response = post(client, amount_choice="2500", gift_aid_first_name="Olena")
    assert charged(response, app, sandbox) == 2500


def paid(
    client: Any, app: Any, sandbox: Any, frequency: str, outcome: str = "paid", currency: str = "gbp"
) -> str:
    response = post(client, amount_choice="1000", frequency=frequency, currency=currency)
    donation = load_donation(app, session_creates(sandbox)[-1]["params"]["client_reference_id"])
    assert response.status_code == 303
    sandbox.control.complete_session(donation.stripe_checkout_session_id, outcome)
    return client.get(thanks_url(donation.stripe_checkout_session_id)).get_data(as_text=True)


def test_thanks_promises_no_email_the_service_does_not_send(client: Any, app: Any, sandbox: Any) -> None:
    html = paid(client, app, sandbox, "one_off")
    assert 'Your gift of <strong class="gift-amount">£10</strong> to' in html
    assert "email" not in html.lower()
    assert "Changing or stopping" not in html


def test_monthly_thanks_reads_right_and_says_how_to_change_or_stop(
    client: Any, app: Any, sandbox: Any
) -> None:
    html = paid(client, app, sandbox, "monthly")
    assert 'Your gift of <strong class="gift-amount">£10</strong> a month to' in html
    assert "monthly gift of" not in html
    # The signed link to change or stop it, and the charity by letter as well (not instead).
    assert "Change the amount, update your card or stop your monthly gift</a>" in html
    assert "You can also write to British Red Cross, quoting the reference below." in html
    assert "email" not in html.lower()


def test_bank_debit_page_promises_no_email(client: Any, app: Any, sandbox: Any) -> None:
    html = paid(client, app, sandbox, "one_off", outcome="async", currency="eur")
    assert "Bank payments can take a few days to clear. Come back to this page" in html
    assert "email" not in html.lower()


def test_unknown_pages_are_neutral_and_appeal_pages_wear_the_charitys_name(client: Any, app: Any) -> None:
    unknown = client.get("/donate/no-such-appeal").get_data(as_text=True)
    assert "Page not found" in unknown
    assert "Donation Router" not in unknown and "site-header" not in unknown
    assert "Payments are processed securely" not in unknown

    def boom(slug: str) -> Any:
        raise RuntimeError("a bug on the donate page")

    app.view_functions["donate.donate_form"] = boom
    failed = client.get(FORM)
    assert failed.status_code == 500
    html = failed.get_data(as_text=True)
    assert '<span class="brand">British Red Cross</span>' in html
    assert "Donation Router" not in html and "Payments are processed securely" not in html
    assert "Back to the donation page for" in html


def test_favicon_is_served(client: Any) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert b"<svg" in icon.data
    assert 'rel="icon"' in client.get(FORM).get_data(as_text=True)


def test_a_linked_custom_amount_is_written_the_pages_way_and_reads_back(
    client: Any, app: Any, sandbox: Any
) -> None:
    html = client.get(f"{FORM}?amount=3750&lang=uk").get_data(as_text=True)
    assert 'value="37,50"' in html
    response = post(client, "?lang=uk", amount_choice="custom", custom_amount="37,50")
    assert charged(response, app, sandbox) == 3750


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_donate_js_parses_as_es5_for_old_browsers() -> None:
    root = Path(__file__).resolve().parents[2]
    acorn = root / "tests" / "browser" / "node_modules" / "acorn"
    if not acorn.exists():
        pytest.fail("tests/browser/node_modules is missing: run scripts/bootstrap dev", pytrace=False)
    source = root / "service" / "static" / "donate.js"
    script = f"require({str(acorn)!r}).parse(require('fs').readFileSync({str(source)!r}, 'utf8'), {{ecmaVersion: 5}})"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_the_appeals_own_rules_reach_the_donor_in_their_language(client: Any) -> None:
    data = {"currency": "jpy", "amount_choice": "custom", "custom_amount": "500"}
    uk = post(client, "?lang=uk", **data).get_data(as_text=True)
    assert "Цей збір приймає GBP, EUR, USD." in uk
    en = post(client, **data).get_data(as_text=True)
    assert "This appeal accepts GBP, EUR, USD." in en
