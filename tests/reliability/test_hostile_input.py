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
