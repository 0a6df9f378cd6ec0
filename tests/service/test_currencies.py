"""Money is integer minor units; typed amounts parse exactly or are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.amount_input import parse_amount
from service.currencies import AmountFormatError, format_amount, to_major


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("25", "gbp", 2500),
        ("25.5", "gbp", 2550),
        ("25.50", "eur", 2550),
        ("£1,000", "gbp", 100000),
        (" 0.30 ", "gbp", 30),
        ("500", "jpy", 500),
        (".5", "usd", 50),
    ],
)
def test_typed_amounts_parse_to_exact_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "gbp", "Enter an amount"),
        ("ten", "gbp", "as a number"),
        ("25.5555", "gbp", "at most 2 decimal places"),
        ("500.5", "jpy", "whole numbers"),
        ("-5", "gbp", "as a number"),
        ("1e5", "gbp", "as a number"),
        ("25..", "gbp", "as a number"),
    ],
)
def test_bad_typed_amounts_are_refused_not_rounded(text: str, currency: str, message: str) -> None:
    with pytest.raises(AmountFormatError, match=message):
        parse_amount(text, currency)


def test_minor_units_convert_to_exact_decimals() -> None:
    assert to_major(2550, "gbp") == Decimal("25.50")
    assert to_major(500, "jpy") == Decimal("500")
    assert to_major(1, "usd") == Decimal("0.01")


def test_amounts_are_formatted_for_people() -> None:
    assert format_amount(2500, "gbp") == "£25"
    assert format_amount(2550, "eur") == "€25.50"
    assert format_amount(500, "jpy", "en_US") == "¥500"
