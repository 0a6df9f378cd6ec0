"""The server-rendered donor journey: form, validation messages, 303 to Checkout, thanks, cancel."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.donor_forms import FORM, form_token, fresh_form, thanks_url

from .helpers import donation_count, load_donation, session_creates


def test_form_lists_suggested_amounts_as_labelled_radios(client: Any) -> None:
    response = client.get(FORM)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for label in ("£10", "£25", "£50", "£100"):
        assert label in html
    assert 'type="radio" name="amount_choice" value="2500"' in html
    assert '<label for="custom_amount"' in html and '<label for="email"' in html
    assert "<legend>How often?</legend>" in html
    assert 'name="viewport"' in html
    # One same-origin enhancement script; the journey needs none (the no-JavaScript browser tests).
    assert html.count("<script") == 1 and '<script src="/static/donate.js" defer></script>' in html


def test_publisher_link_prefills_the_form(client: Any) -> None:
    html = client.get(f"{FORM}?amount=3700&currency=eur&frequency=monthly&utm_source=daily-news").get_data(
        as_text=True
    )
    assert 'name="currency" value="eur"' in html
    assert re.search(r'value="monthly"\s+checked', html)
    assert 'value="custom" checked' in html and 'value="37.00"' in html
    assert 'name="utm_source" value="daily-news"' in html


def test_suggested_amount_from_link_is_preselected(client: Any) -> None:
    html = client.get(f"{FORM}?amount=5000").get_data(as_text=True)
    assert re.search(r'value="5000"[^>]*\schecked', html)


def test_unknown_currency_in_link_falls_back_to_the_appeal_default(client: Any) -> None:
    html = client.get(f"{FORM}?currency=xyz").get_data(as_text=True)
    assert 'name="currency" value="gbp"' in html


def test_valid_form_answers_303_to_stripe_checkout(client: Any, app: Any, sandbox: Any) -> None:
    data = {
        **fresh_form(client),
        "amount_choice": "2500",
        "email": "donor@example.org",
        "utm_source": "paper",
    }
    response = client.post(FORM, data=data)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(sandbox.base_url)
    [call] = session_creates(sandbox)
    assert call["params"]["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert call["params"]["customer_email"] == "donor@example.org"
    donation = load_donation(app, call["params"]["client_reference_id"])
    assert donation.utm_source == "paper" and donation.status == "pending"


def test_custom_amount_is_parsed_exactly(client: Any, sandbox: Any) -> None:
    data = {**fresh_form(client), "amount_choice": "custom", "custom_amount": "12.34"}
    assert client.post(FORM, data=data).status_code == 303
    assert session_creates(sandbox)[0]["params"]["line_items"][0]["price_data"]["unit_amount"] == "1234"


def test_invalid_form_rerenders_with_field_messages_and_changes_nothing(
    client: Any, app: Any, sandbox: Any
) -> None:
    data = {**fresh_form(client), "amount_choice": "custom", "custom_amount": "1.5", "email": "nope"}
    response = client.post(FORM, data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in html
    assert "The minimum gift is £2." in html
    assert "Enter a valid email address" in html
    assert 'href="#field-amount"' in html and 'href="#field-email"' in html
    assert 'value="1.5"' in html  # what the donor typed is kept
    assert donation_count(app) == 0 and session_creates(sandbox) == []


def test_missing_amount_is_explained(client: Any, app: Any) -> None:
    response = client.post(FORM, data={**fresh_form(client), "amount_choice": "custom"})
    assert response.status_code == 422
    assert "Choose an amount or enter your own" in response.get_data(as_text=True)
    assert donation_count(app) == 0


def test_currency_not_accepted_is_explained(client: Any, app: Any) -> None:
    response = client.post(
        FORM,
        data={**fresh_form(client), "currency": "jpy", "amount_choice": "custom", "custom_amount": "500"},
    )
    assert response.status_code == 422
    assert "This appeal accepts GBP, EUR, USD" in response.get_data(as_text=True)
    assert donation_count(app) == 0


def test_double_submit_creates_one_donation_and_one_session(client: Any, app: Any, sandbox: Any) -> None:
    data = {**fresh_form(client), "amount_choice": "5000"}
    first = client.post(FORM, data=data)
    second = client.post(FORM, data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert donation_count(app) == 1
    assert len(session_creates(sandbox)) == 1


def test_form_without_token_is_refused(client: Any, app: Any) -> None:
    response = client.post(FORM, data={"currency": "gbp", "amount_choice": "2500"})
    assert response.status_code == 422
    assert "This form has expired" in response.get_data(as_text=True)
    assert donation_count(app) == 0


def test_stripe_outage_shows_a_friendly_retry_and_the_same_form_continues(
    client: Any, app: Any, sandbox: Any
) -> None:
    data = {**fresh_form(client), "amount_choice": "2500"}
    sandbox.control.fail_next(count=10, path_prefix="/v1/checkout/sessions")
    failed = client.post(FORM, data=data)
    assert failed.status_code == 503
    assert "You have not been charged" in failed.get_data(
        as_text=True
    ) or "has not been charged" in failed.get_data(as_text=True)
    assert form_token(failed.get_data(as_text=True)) == data["form_token"]
    sandbox.control.clear_faults()
    retried = client.post(FORM, data=data)
    assert retried.status_code == 303
    assert donation_count(app) == 1


def test_unknown_appeal_page_is_a_friendly_404(client: Any) -> None:
    response = client.get("/donate/not-an-appeal")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_closed_appeal_page_says_so_and_has_no_form(client: Any, runner: Any) -> None:
    runner.invoke(args=["appeals", "close", "red-cross-ukraine"])
    html = client.get(FORM).get_data(as_text=True)
    assert "not accepting donations" in html
    assert "<form" not in html


def checkout(client: Any, app: Any, sandbox: Any, **fields: str) -> str:
    """Submit the form and return the Checkout Session id the donor was sent to."""
    response = client.post(FORM, data={**fresh_form(client), "amount_choice": "2500", **fields})
    assert response.status_code == 303
    donation = load_donation(app, session_creates(sandbox)[-1]["params"]["client_reference_id"])
    assert donation.stripe_checkout_session_id
    assert response.headers["Location"] == donation.checkout_url
    return donation.stripe_checkout_session_id


def test_thanks_page_shows_the_paid_gift(client: Any, app: Any, sandbox: Any) -> None:
    session_id = checkout(client, app, sandbox)
    sandbox.control.complete_session(session_id, "paid")
    html = client.get(thanks_url(session_id)).get_data(as_text=True)
    assert "Thank you" in html and "£25" in html and "has been received" in html
    donation = load_donation(app, sandbox.control.requests()[0]["params"]["client_reference_id"])
    assert donation.status == "paid"


def test_thanks_page_for_a_bank_debit_says_processing(client: Any, app: Any, sandbox: Any) -> None:
    # SEPA takes one-off gifts in euros; Bacs is for monthly gifts only (service/payment_methods.py).
    session_id = checkout(client, app, sandbox, currency="eur")
    sandbox.control.complete_session(session_id, "async")
    html = client.get(thanks_url(session_id)).get_data(as_text=True)
    assert "your payment is processing" in html


def test_thanks_page_before_payment_says_not_confirmed(client: Any, app: Any, sandbox: Any) -> None:
    session_id = checkout(client, app, sandbox)
    html = client.get(thanks_url(session_id)).get_data(as_text=True)
    assert "We're confirming your payment" in html


def test_thanks_page_for_an_expired_session_offers_to_try_again(client: Any, app: Any, sandbox: Any) -> None:
    session_id = checkout(client, app, sandbox)
    sandbox.control.expire_session(session_id)
    html = client.get(thanks_url(session_id)).get_data(as_text=True)
    assert "was not completed" in html and "Try again" in html


def test_thanks_page_with_unknown_session_is_a_friendly_404(client: Any) -> None:
    response = client.get(thanks_url("cs_test_unknown"))
    assert response.status_code == 404
    assert "find that donation" in response.get_data(as_text=True)


def test_cancelled_page_offers_the_same_gift_again(client: Any, sandbox: Any) -> None:
    client.post(FORM, data={**fresh_form(client), "amount_choice": "5000", "frequency": "monthly"})
    cancel_url = session_creates(sandbox)[0]["params"]["cancel_url"]
    path = urlsplit(cancel_url)
    html = client.get(f"{path.path}?{path.query}").get_data(as_text=True)
    assert "You have not been charged" in html
    retry = re.search(r'href="(/donate/red-cross-ukraine\?[^"]+)"', html)
    assert retry
    query = parse_qs(urlsplit(retry.group(1).replace("&amp;", "&")).query)
    assert query == {"amount": ["5000"], "currency": ["gbp"], "frequency": ["monthly"]}


def test_sample_news_page_links_to_the_appeal(client: Any) -> None:
    html = client.get("/news/sample").get_data(as_text=True)
    assert "click here" in html and "/donate/red-cross-ukraine?" in html


def test_donor_pages_send_security_headers(client: Any, sandbox: Any) -> None:
    response = client.get(FORM)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert f"form-action 'self' {sandbox.base_url}" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
