"""The donor's explicit choice of Direct Debit: offered where the appeal takes it, sent to Checkout
as that scheme alone, and refused in plain words (nothing stored, no Stripe call) where the scheme
cannot take the gift."""

from __future__ import annotations

import html as html_lib
from typing import Any

import pytest

from schemas.donations import PAY_BY as SCHEMA_PAY_BY
from service.payment_methods import PAY_BY
from tests.support.donor_forms import FORM, fresh_form

from .helpers import VALID, donation_count, load_donation, session_creates

# An appeal whose own floors sit under the schemes', so only the scheme's minimum can refuse.
SMALL_GIFTS = (
    "slug: small-gifts\ntitle: Small gifts\ncharity_name: Relief\ncurrencies: [gbp, eur, usd]\n"
    "default_currency: gbp\nsuggested_amounts: {gbp: [500], eur: [500], usd: [500]}\n"
    "minimum_amounts: {gbp: 50, eur: 50, usd: 50}\nbank_debits: true\n"
)
NO_DEBITS = (
    "slug: cards-only\ntitle: Cards only\ncharity_name: Relief\ncurrencies: [gbp, eur]\n"
    "default_currency: gbp\nsuggested_amounts: {gbp: [500], eur: [500]}\n"
)


@pytest.fixture
def appeals(runner: Any, tmp_path: Any) -> None:
    for name, text in (("small.yaml", SMALL_GIFTS), ("cards.yaml", NO_DEBITS)):
        path = tmp_path / name
        path.write_text(text)
        result = runner.invoke(args=["appeals", "load", str(path)])
        assert result.exit_code == 0, result.output


def test_the_schema_and_the_domain_name_the_same_choices() -> None:
    assert SCHEMA_PAY_BY == PAY_BY


@pytest.mark.parametrize(
    ("change", "allowed", "offered"),
    [
        ({"frequency": "monthly"}, ["bacs_debit"], ["bacs_debit"]),
        ({"currency": "eur"}, ["sepa_debit"], ["sepa_debit"]),
        ({"currency": "eur", "frequency": "monthly"}, ["sepa_debit"], ["sepa_debit"]),
    ],
)
def test_a_debit_choice_asks_checkout_for_that_scheme_alone(
    client: Any, app: Any, sandbox: Any, change: dict[str, Any], allowed: list[str], offered: list[str]
) -> None:
    response = client.post("/api/v1/donations", json={**VALID, **change, "pay_by": "bank_debit"})
    assert response.status_code == 201, response.get_json()
    [call] = session_creates(sandbox)
    params = call["params"]
    assert params["allowed_payment_method_types"] == allowed
    assert "excluded_payment_method_types" not in params and "payment_method_types" not in params
    donation = load_donation(app, response.get_json()["id"])
    assert donation.pay_by == "bank_debit"
    assert sandbox.state.store.objects[donation.stripe_checkout_session_id]["payment_method_types"] == offered


def test_the_ordinary_path_still_leaves_the_choice_to_the_dashboard(
    client: Any, app: Any, sandbox: Any
) -> None:
    response = client.post("/api/v1/donations", json={**VALID, "frequency": "monthly", "pay_by": "checkout"})
    assert response.status_code == 201
    [call] = session_creates(sandbox)
    assert "allowed_payment_method_types" not in call["params"]
    assert load_donation(app, response.get_json()["id"]).pay_by is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # Under the scheme's floor (the appeal itself would take it).
        ({"appeal": "small-gifts", "amount": 150, "currency": "gbp", "frequency": "monthly"},
         "amount", "The smallest gift by Bacs Direct Debit is £2.00."),
        ({"appeal": "small-gifts", "amount": 80, "currency": "eur"},
         "amount", "The smallest gift by SEPA Direct Debit is €1.00."),
        # A currency no scheme of ours collects.
        ({"appeal": "small-gifts", "amount": 2500, "currency": "usd", "frequency": "monthly"},
         "currency", "pounds (Bacs) or euros (SEPA) only"),
        # Bacs is for monthly gifts here.
        ({"appeal": "small-gifts", "amount": 2500, "currency": "gbp"},
         "frequency", "Bacs Direct Debit is for monthly gifts only"),
        # The appeal does not take debits at all.
        ({"appeal": "cards-only", "amount": 2500, "currency": "gbp", "frequency": "monthly"},
         "pay_by", "does not take bank debits"),
    ],
)  # fmt: skip
def test_a_debit_the_scheme_cannot_take_is_refused_naming_the_field(
    client: Any, app: Any, sandbox: Any, appeals: None, body: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/api/v1/donations", json={**body, "pay_by": "bank_debit"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert list(error["fields"]) == [field]
    assert message in error["fields"][field][0]
    assert donation_count(app) == 0 and session_creates(sandbox) == []
    # The same gift without the debit choice is an ordinary one.
    assert client.post("/api/v1/donations", json=body).status_code == 201


def test_the_appeals_own_rules_come_first(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", json={**VALID, "currency": "jpy", "pay_by": "bank_debit"})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["currency"]
    assert "accepts GBP, EUR, USD" in response.get_json()["error"]["fields"]["currency"][0]


def test_an_unknown_way_to_pay_is_refused(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", json={**VALID, "pay_by": "cheque"})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["pay_by"]
    assert donation_count(app) == 0 and session_creates(sandbox) == []


def test_the_donate_page_offers_the_choice_where_the_appeal_takes_it(client: Any, appeals: None) -> None:
    pounds = client.get(FORM + "?currency=gbp").get_data(as_text=True)
    assert "How would you like to pay?" in pounds
    assert 'name="pay_by" value="bank_debit"' in pounds
    assert "Bacs Direct Debit, for monthly gifts of £2 or more" in pounds
    euros = client.get(FORM + "?currency=eur").get_data(as_text=True)
    assert "SEPA Direct Debit, for gifts of" in euros
    assert 'name="pay_by"' not in client.get(FORM + "?currency=usd").get_data(as_text=True)
    assert 'name="pay_by"' not in client.get("/donate/cards-only").get_data(as_text=True)
    # Switching currency keeps the choice.
    chosen = client.get(FORM + "?currency=gbp&pay_by=bank_debit").get_data(as_text=True)
    assert "currency=eur&amp;frequency=one_off&amp;pay_by=bank_debit" in chosen
    # A publisher's link may preselect it.
    linked = client.get(FORM + "?currency=gbp&frequency=monthly&pay_by=bank_debit").get_data(as_text=True)
    assert 'value="bank_debit" aria-describedby="pay-by-debit-hint" checked' in linked


def test_the_form_sends_a_debit_choice_to_checkout(client: Any, app: Any, sandbox: Any) -> None:
    data = {**fresh_form(client), "frequency": "monthly", "amount_choice": "2500", "pay_by": "bank_debit"}
    response = client.post(FORM, data=data)
    assert response.status_code == 303
    [call] = session_creates(sandbox)
    assert call["params"]["allowed_payment_method_types"] == ["bacs_debit"]


def test_the_form_refuses_a_small_debit_in_plain_words(
    client: Any, app: Any, sandbox: Any, appeals: None
) -> None:
    html = client.get("/donate/small-gifts").get_data(as_text=True)
    token = html.split('name="form_token" value="')[1].split('"')[0]
    data = {"form_token": token, "currency": "gbp", "frequency": "monthly", "pay_by": "bank_debit",
            "amount_choice": "custom", "custom_amount": "1.50"}  # fmt: skip
    response = client.post("/donate/small-gifts", data=data)
    page = html_lib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "There is a problem" in page
    assert '<a href="#field-amount">The smallest gift by Bacs Direct Debit is £2.' in page
    assert 'value="bank_debit" aria-describedby="pay-by-debit-hint" checked' in page  # the choice is kept
    assert donation_count(app) == 0 and session_creates(sandbox) == []
    # One-off by Bacs: the reason names the frequency, beside its fieldset.
    response = client.post("/donate/small-gifts", data={**data, "frequency": "one_off", "custom_amount": "5"})
    page = html_lib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert '<a href="#field-frequency">Bacs Direct Debit is for monthly gifts only.' in page
    assert donation_count(app) == 0 and session_creates(sandbox) == []


def test_the_refusal_speaks_the_donors_language(client: Any, app: Any, sandbox: Any, appeals: None) -> None:
    html = client.get("/donate/small-gifts?lang=uk").get_data(as_text=True)
    token = html.split('name="form_token" value="')[1].split('"')[0]
    data = {"form_token": token, "currency": "eur", "frequency": "one_off", "pay_by": "bank_debit",
            "amount_choice": "custom", "custom_amount": "0,80"}  # fmt: skip
    response = client.post("/donate/small-gifts?lang=uk", data=data)
    page = html_lib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Найменший внесок через SEPA Direct Debit" in page
    assert "The smallest gift" not in page
    assert donation_count(app) == 0


def test_the_form_refuses_a_debit_on_an_appeal_without_them(
    client: Any, app: Any, sandbox: Any, appeals: None
) -> None:
    html = client.get("/donate/cards-only").get_data(as_text=True)
    token = html.split('name="form_token" value="')[1].split('"')[0]
    data = {"form_token": token, "currency": "gbp", "frequency": "monthly", "pay_by": "bank_debit",
            "amount_choice": "500"}  # fmt: skip
    response = client.post("/donate/cards-only", data=data)
    assert response.status_code == 422
    page = html_lib.unescape(response.get_data(as_text=True))
    assert '<a href="#field-pay_by">This appeal does not take bank debits' in page
    assert 'id="field-pay_by"' in page  # the summary's link has somewhere to go
    assert donation_count(app) == 0 and session_creates(sandbox) == []


def test_a_monthly_debits_thank_you_page_says_when_the_first_debit_is_taken(
    client: Any, app: Any, sandbox: Any
) -> None:
    from datetime import date

    response = client.post(
        "/api/v1/donations", json={**VALID, "frequency": "monthly", "pay_by": "bank_debit"}
    )
    session_id = load_donation(app, response.get_json()["id"]).stripe_checkout_session_id
    sandbox.control.complete_session(session_id, "async")
    page = client.get(f"/donate/red-cross-ukraine/thanks?session_id={session_id}").get_data(as_text=True)
    [charge] = [o for o in sandbox.state.store.objects.values() if o.get("object") == "charge"]
    taken = date.fromisoformat(charge["payment_method_details"]["bacs_debit"]["expected_debit_date"])
    assert "is on its way" in page and "a month" in page
    when = f"{taken:%A}, {taken.day} {taken:%B %Y}"
    assert f"Your debit by Bacs Direct Debit from the account ending 3000 will be taken on {when}." in page
    assert load_donation(app, response.get_json()["id"]).status == "processing"
