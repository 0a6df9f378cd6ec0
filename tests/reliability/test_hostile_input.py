"""Odd input from donors' browsers and bots is refused with a message, never a 500."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ..service.helpers import donation_count

FORM = "/donate/red-cross-ukraine"
ODD_DIGITS = ["²", "①", "١٢", "1.²", "𝟓"]


@pytest.mark.parametrize("text", ODD_DIGITS)
def test_odd_digits_in_a_publishers_link_are_ignored(client: Any, text: str) -> None:
    assert client.get(FORM, query_string={"amount": text}).status_code == 200


@pytest.mark.parametrize("text", ODD_DIGITS)
@pytest.mark.parametrize("field", ["amount_choice", "custom_amount"])
def test_odd_digits_in_the_form_are_a_422_with_a_message(
    client: Any, app: Any, field: str, text: str
) -> None:
    data = {"form_token": "odd-digits-token-0001", "currency": "gbp", "amount_choice": "custom"}
    data[field] = text
    response = client.post(FORM, data=data)
    assert response.status_code == 422
    # The error summary names the amount, and only it, with a link to the field to correct.
    summary = re.search(
        r'<div class="error-summary" role="alert".*?</div>', response.get_data(as_text=True), re.S
    )
    assert summary, "no error summary"
    errors = re.findall(r'<li><a href="#(field-[\w-]+)">([^<]+)</a></li>', summary.group(0))
    assert [link for link, _ in errors] == ["field-amount"]
    assert errors[0][1].strip()
    assert donation_count(app) == 0


@pytest.mark.parametrize(
    "field", ["gift_aid_first_name", "gift_aid_last_name", "gift_aid_house", "gift_aid_postcode"]
)
def test_a_nul_character_in_the_form_is_a_422_that_names_the_field(client: Any, app: Any, field: str) -> None:
    form = client.get(FORM).get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
    data = {
        "form_token": token,
        "currency": "gbp",
        "amount_choice": "2500",
        "gift_aid": "1",
        "gift_aid_first_name": "Olena",
        "gift_aid_last_name": "Smith",
        "gift_aid_house": "12",
        "gift_aid_postcode": "SW1A 1AA",
    }
    data[field] = data[field][:2] + "\x00" + data[field][2:]
    response = client.post(FORM, data=data)
    assert response.status_code == 422
    assert "Remove the unusual character from this field." in response.get_data(as_text=True)
    assert donation_count(app) == 0


@pytest.mark.parametrize(
    "body",
    [
        {
            "gift_aid": {
                "first_name": "Ol\x00ena",
                "last_name": "Smith",
                "house": "12",
                "postcode": "SW1A 1AA",
                "declaration": True,
            }
        },
        {"appeal": "red-cross\x00ukraine"},
        {"redirected_from": "ukraine\x002022"},
    ],
)
def test_a_nul_character_in_an_api_body_is_a_422_not_a_500(client: Any, app: Any, body: dict) -> None:
    payload = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", **body}
    response = client.post("/api/v1/donations", json=payload, headers={"Idempotency-Key": "nul-body-0001"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_failed"
    assert donation_count(app) == 0
