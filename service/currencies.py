"""Money for people: minor units to major, and amounts formatted in the reader's language.

Money in this project is always an integer count of minor units plus an ISO currency code;
Stripe's tables for the currencies (exponents, minimum and maximum charges) are plain constants in
service/constants/currencies.py, which the schemas may read too.
"""

from __future__ import annotations

from copy import copy
from decimal import Decimal

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
    from babel import Locale
    from babel.numbers import format_currency

    value = to_major(amount, currency)
    code = currency.upper()
    if value == value.to_integral_value():
        whole = copy(Locale.parse(locale).currency_formats["standard"])
        whole.frac_prec = (0, 0)
        return whole.apply(value, Locale.parse(locale), currency=code, currency_digits=False)
    return format_currency(value, code, locale=locale)


class AmountFormatError(ValueError):
    """A typed amount that is not a valid sum of money in its currency (service/amount_input.py
    reads typed amounts)."""
