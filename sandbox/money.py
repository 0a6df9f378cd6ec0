"""Currencies: minimum charge amounts, zero-decimal currencies, fees and display."""

from __future__ import annotations

from dataclasses import dataclass

# Stripe's minimum charge amounts, in the currency's smallest unit
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_AMOUNT = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
DEFAULT_MINIMUM = 50
MAXIMUM_AMOUNT = 99_999_999  # Stripe allows at most eight digits.

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

SYMBOLS = {"usd": "$", "gbp": "£", "eur": "€", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF "}

# Dispute fees Stripe charges when a dispute opens (minor units).
DISPUTE_FEE = {"usd": 1500, "gbp": 2000, "eur": 2000, "jpy": 2000}


@dataclass(frozen=True)
class Fee:
    """A processing fee: ``percent`` of the amount plus ``fixed`` minor units."""

    percent: float
    fixed: int

    def on(self, amount: int) -> int:
        # Half-up rounding to the minor unit, as Stripe's fee reports do.
        return int(amount * self.percent / 100 + 0.5) + self.fixed


# Stripe's published standard card pricing, the fixed fee in each currency's minor units: UK
# 1.5% + 20p, euro area 1.5% + EUR 0.25, US 2.9% + 30c, Japan 3.6%, and the EUR 0.25 fixed fee in
# the currencies of EEA accounts outside the euro (support.stripe.com/questions/pricing-updates-
# for-businesses-based-in-the-european-economic-area-(eea)).
DEFAULT_FEES = {
    "gbp": Fee(1.5, 20),
    "eur": Fee(1.5, 25),
    "usd": Fee(2.9, 30),
    "jpy": Fee(3.6, 0),
    "bgn": Fee(1.5, 50),
    "czk": Fee(1.5, 650),
    "dkk": Fee(1.5, 180),
    "huf": Fee(1.5, 8500),
    "chf": Fee(1.5, 30),
    "pln": Fee(1.5, 100),
    "ron": Fee(1.5, 100),
    "sek": Fee(1.5, 180),
}
FALLBACK_FEE = Fee(2.9, 30)


# Currency conversion (https://docs.stripe.com/currencies/conversions): a charge in a currency
# the account does not settle in is converted into its settlement currency at the time of the
# charge; the balance transaction is in the settlement currency with ``exchange_rate`` such that
# amount (major units, charge currency) x exchange_rate = amount (major units, settlement
# currency), as stripe-python's BalanceTransaction.exchange_rate documents. Refunds and dispute
# withdrawals of a converted charge are converted back at the rate *of that moment*
# (https://docs.stripe.com/currencies/disputes-refunds), so they rarely mirror the charge.
# Illustrative mid-market values of one unit in US dollars; a scenario sets its own rates.
USD_VALUE = {
    "usd": 1.0, "gbp": 1.27, "eur": 1.08, "chf": 1.13, "cad": 0.73, "aud": 0.66, "nzd": 0.60,
    "jpy": 0.0067, "sek": 0.095, "nok": 0.093, "dkk": 0.145, "pln": 0.25, "czk": 0.043,
    "huf": 0.0028, "ron": 0.22, "bgn": 0.55,
}  # fmt: skip
# Stripe's currency conversion fee on top of the processing fee (UK/EEA accounts: 2%).
CONVERSION_FEE_PERCENT = 2.0


def exchange_rate(source: str, target: str, overrides: dict[str, float] | None = None) -> float:
    """Major units of ``target`` per major unit of ``source`` (``overrides`` keyed by source)."""
    if overrides and source in overrides:
        return float(overrides[source])
    if source not in USD_VALUE or target not in USD_VALUE:
        raise ValueError(f"no exchange rate from {source} to {target}")
    return round(USD_VALUE[source] / USD_VALUE[target], 6)


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def convert(amount: int, source: str, target: str, rate: float) -> int:
    """``amount`` minor units of ``source`` in minor units of ``target``, rounded half away from 0."""
    value = amount / 10 ** exponent(source) * rate * 10 ** exponent(target)
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def parse_fee(spec: str) -> tuple[str, Fee]:
    """Parse ``gbp=1.5+20`` (percent plus fixed minor units)."""
    currency, _, rule = spec.partition("=")
    percent, _, fixed = rule.partition("+")
    return currency.strip().lower(), Fee(float(percent), int(fixed or 0))


def minimum(currency: str) -> int:
    return MINIMUM_AMOUNT.get(currency, DEFAULT_MINIMUM)


def display(amount: int, currency: str) -> str:
    """``£5.00``, ``¥500``, or ``12.00 SEK`` for currencies without a symbol here."""
    currency = currency.lower()
    number = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"
