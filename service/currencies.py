"""Money for people: minor units to major, and amounts formatted in the reader's language.

Money in this project is always an integer count of minor units plus an ISO currency code;
Stripe's tables for the currencies (exponents, minimum and maximum charges) are plain constants in
service/constants/currencies.py, which the schemas may read too.
"""

from __future__ import annotations

import functools
from copy import copy
from decimal import Decimal
from typing import Any

from .constants.currencies import STRIPE_MINIMUM_CHARGE, ZERO_DECIMAL


def exponent(currency: str) -> int:
    """Number of decimal places in the currency's major unit, as Stripe counts them."""
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units to an exact Decimal in the currency's major unit (2500 GBP -> 25.00)."""
    places = exponent(currency)
    return Decimal(amount).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def minimum_charge(currency: str) -> int:
    return STRIPE_MINIMUM_CHARGE[currency.lower()]


def format_amount(amount: int, currency: str, locale: str = "en_GB") -> str:
    """Human-readable money for pages: 2500 gbp -> '£25.00'; whole amounts drop the decimals.

    The locale's own pattern decides where the symbol goes ('25 £' in Ukrainian, '£25' in English).
    """
    from babel.numbers import format_currency

    value = to_major(amount, currency)
    code = currency.upper()
    parsed, whole = _locale_and_whole_pattern(locale)
    if value == value.to_integral_value():
        return str(whole.apply(value, parsed, currency=code, currency_digits=False))
    return str(format_currency(value, code, locale=parsed))


@functools.lru_cache(maxsize=256)
def _locale_and_whole_pattern(locale: str) -> tuple[Any, Any]:
    """The parsed locale and its currency pattern without decimals, once per locale: parsing them
    took about 40 µs a call, and a donation page shows a dozen amounts (preset buttons, minimum,
    progress). Babel's patterns are not changed by formatting, so one copy serves every call."""
    from babel import Locale

    parsed = Locale.parse(locale)
    whole = copy(parsed.currency_formats["standard"])
    whole.frac_prec = (0, 0)
    return parsed, whole


class AmountFormatError(ValueError):
    """A typed amount that is not a valid sum of money in its currency (service/amount_input.py
    reads typed amounts)."""
