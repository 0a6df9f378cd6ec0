"""Money parsing and formatting round-trip exactly, for every amount and currency we accept."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.numbers import get_currency_symbol
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.amount_input import parse_amount
from service.constants.currencies import STRIPE_MAXIMUM_AMOUNT, SUPPORTED_CURRENCIES
from service.currencies import (
    AmountFormatError,
    exponent,
    format_amount,
    to_major,
)

BABEL = {"en": "en_GB", "uk": "uk_UA"}
CURRENCIES = st.sampled_from(sorted(SUPPORTED_CURRENCIES | {"krw", "ugx", "vnd"}))
AMOUNTS = st.integers(min_value=0, max_value=STRIPE_MAXIMUM_AMOUNT)
PROFILE = settings(max_examples=300, deadline=None)


@PROFILE
@given(AMOUNTS, CURRENCIES)
def test_minor_units_to_major_and_back_is_exact(amount: int, currency: str) -> None:
    major = to_major(amount, currency)
    assert major * (10 ** exponent(currency)) == amount
    assert -major.as_tuple().exponent == exponent(currency)  # e.g. 25.00, never 25 or 25.000
    assert parse_amount(str(major), currency) == amount


@PROFILE
@given(AMOUNTS, CURRENCIES)
@example(100, "jpy")
@example(123456, "gbp")
def test_formatted_amounts_read_back_as_the_same_minor_units(amount: int, currency: str) -> None:
    text = format_amount(amount, currency)
    # The number after the currency's symbol (which varies: £, US$, CHF) is exact.
    number = re.sub(r"^[^\d]+", "", text)
    assert parse_amount(number, currency) == amount
    if currency in ("gbp", "eur"):
        assert parse_amount(text, currency) == amount  # donors may type what they see
    # The Ukrainian page shows '1 234,56 GBP' (no-break spaces); typed back, it is the same money.
    assert parse_amount(format_amount(amount, currency, "uk_UA"), currency, "uk") == amount


@PROFILE
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=9), CURRENCIES)
def test_more_decimal_places_than_the_currency_has_are_refused_not_rounded(
    whole: int, extra: int, currency: str
) -> None:
    places = exponent(currency) + 1
    text = f"{whole}.{'0' * (places - 1)}{extra}"
    with pytest.raises(AmountFormatError):
        parse_amount(text, currency)


@PROFILE
@given(st.text(max_size=40), CURRENCIES)
@example("1e5", "gbp")
@example("NaN", "gbp")
@example("-5", "gbp")
@example("٣", "gbp")  # a non-ASCII digit
@example("1_000", "gbp")
@example("²", "gbp")  # str.isdigit() says yes, int() says no: once a 500 on the donate form
@example("1.①", "gbp")
@example("10,50", "gbp")
def test_any_typed_text_is_either_an_exact_amount_or_a_clear_refusal(text: str, currency: str) -> None:
    for locale in ("en", "uk"):
        try:
            amount = parse_amount(text, currency, locale)
        except AmountFormatError as exc:
            assert str(exc)
            continue
        assert isinstance(amount, int) and amount >= 0
        # What was read is the typed digits, with the language's decimal mark as the only mark.
        cleaned = text
        for sign in (
            currency.upper(),
            currency.lower(),
            get_currency_symbol(currency.upper(), BABEL[locale]),
        ):
            cleaned = cleaned.replace(sign, "")
        cleaned = re.sub(r"[\s£$€¥₴]", "", cleaned)
        cleaned = cleaned.replace(",", "") if locale == "en" else cleaned.replace(",", ".")
        assert Decimal(cleaned) * (10 ** exponent(currency)) == amount


@PROFILE
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["gbp", "eur", "usd"]))
def test_thousands_separators_and_symbols_do_not_change_the_amount(pounds: int, currency: str) -> None:
    plain = parse_amount(str(pounds), currency)
    assert parse_amount(f"£{pounds:,}", currency) == plain
    assert parse_amount(f" {pounds:,}.00 ", currency) == plain
