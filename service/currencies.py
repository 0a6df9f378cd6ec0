"""Currency facts Stripe applies to charges: minor-unit exponents and minimum amounts.

Money in this project is always an integer count of minor units plus an ISO currency code;
these tables are what turn that into something a person reads, and what Stripe will accept.
"""

from __future__ import annotations

from copy import copy
from decimal import Decimal

# Stripe's zero-decimal currencies: amounts are given in whole units (JPY 500 means ¥500).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)

# Stripe's minimum charge amounts, in minor units, for the currencies we expect appeals to take.
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
STRIPE_MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}

# Stripe refuses amounts with more than eight digits.
STRIPE_MAXIMUM_AMOUNT = 99_999_999

SUPPORTED_CURRENCIES = frozenset(STRIPE_MINIMUM_CHARGE)


# Currencies with a bank-debit scheme Checkout can offer (service/payment_methods.py: Bacs, SEPA).
BANK_DEBIT_CURRENCIES = frozenset({"gbp", "eur"})


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
