"""The typed-amount rule, table-driven from tests/amount_input_cases.json (the widget reads it too).

Each case in the JSON says why its answer is the right one; this file checks the Python rule
against every case in English and Ukrainian and checks the donor's messages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.amount_input import AmountInputError, parse_amount

CASES = json.loads((Path(__file__).resolve().parents[1] / "amount_input_cases.json").read_text())["cases"]
TABLE = [
    pytest.param(
        case["text"],
        case["currency"],
        locale,
        case[locale],
        id=f"{locale}:{case['currency']}:{case['text']!r}",
    )
    for case in CASES
    for locale in ("en", "uk")
]


@pytest.mark.parametrize(("text", "currency", "locale", "expected"), TABLE)
def test_typed_amounts_follow_the_rule_table(
    text: str, currency: str, locale: str, expected: dict[str, Any]
) -> None:
    if "amount" in expected:
        assert parse_amount(text, currency, locale) == expected["amount"]
        return
    with pytest.raises(AmountInputError) as raised:
        parse_amount(text, currency, locale)
    assert raised.value.code == expected["error"]
    assert list(raised.value.readings) == expected.get("readings", [])


def test_the_table_covers_the_issues_cases_in_both_languages() -> None:
    texts = {case["text"] for case in CASES}
    issue = {"10,50", "10.50", "1,000", "1.000", "1 000", "£10", " 10 ", "10,5", "1,000.50", "0,49", "abc"}
    assert issue <= texts
    assert all(case["why"] for case in CASES)


@pytest.mark.parametrize(
    ("text", "locale", "message"),
    [
        ("10,50", "en", "Did you mean £10.50? Please type it as 10.50."),
        ("1.000", "en", "Did you mean £1 or £1,000? Please type it as 1 or 1000."),
        ("1,000.50", "uk", "Did you mean 1\u00a0000,50\u00a0GBP? Please type it as 1000,50."),
        ("abc", "en", "Enter the amount as a number, like 25 or 25.50."),
        ("abc", "uk", "Enter the amount as a number, like 25 or 25,50."),
        ("10.0001", "en", "Use at most 2 decimal places."),
    ],
)
def test_questions_quote_amounts_in_the_donors_notation(text: str, locale: str, message: str) -> None:
    with pytest.raises(AmountInputError) as raised:
        parse_amount(text, "gbp", locale)
    assert str(raised.value) == message
