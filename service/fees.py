"""Estimating Stripe's processing fee so a donor can choose to cover it.

The estimate uses Stripe's standard published pricing for cards (a percentage plus a fixed fee
per charge), with the fixed fee at the scale of the gift's currency. It is an estimate: the real
fee depends on the card and the exchange rate of the day, and the ledger records the real one
from the balance transaction. What the donor adds is worked out so that, at the standard rate,
the charity receives at least the whole gift: ``(gift + cover) - fee(gift + cover) >= gift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from .constants.currencies import STRIPE_MINIMUM_CHARGE


@dataclass(frozen=True)
class FeeRate:
    percent: Decimal  # e.g. Decimal("1.5") for 1.5 %
    fixed: int  # minor units of the gift's currency

    def fee_on(self, amount: int) -> int:
        return int((Decimal(amount) * self.percent / 100).to_integral_value(ROUND_CEILING)) + self.fixed


# Standard domestic card pricing, the fixed fee in each currency's own minor units:
# UK accounts 1.5% + 20p, euro-area 1.5% + EUR 0.25, US 2.9% + 30 cents, Japan 3.6% with no fixed
# fee (stripe.com/pricing per country), and the EUR 0.25 fixed fee as Stripe publishes it for EEA
# accounts in their own currencies: BGN 0.50, CZK 6.50, DKK 1.80, HUF 85, CHF 0.30, PLN 1, RON 1,
# SEK 1.80 (support.stripe.com/questions/pricing-updates-for-businesses-based-in-the-european-
# economic-area-(eea)).
FEE_RATES: dict[str, FeeRate] = {
    "gbp": FeeRate(Decimal("1.5"), 20),
    "eur": FeeRate(Decimal("1.5"), 25),
    "usd": FeeRate(Decimal("2.9"), 30),
    "jpy": FeeRate(Decimal("3.6"), 0),
    "bgn": FeeRate(Decimal("1.5"), 50),
    "czk": FeeRate(Decimal("1.5"), 650),
    "dkk": FeeRate(Decimal("1.5"), 180),
    "huf": FeeRate(Decimal("1.5"), 8500),
    "chf": FeeRate(Decimal("1.5"), 30),
    "pln": FeeRate(Decimal("1.5"), 100),
    "ron": FeeRate(Decimal("1.5"), 100),
    "sek": FeeRate(Decimal("1.5"), 180),
}
# Currencies without a published figure here: the most common percentage, and a fixed fee of
# about 30 US cents at the currency's own scale. Stripe's minimum charge is about 50 US cents in
# every currency (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), so 60% of it
# is. A slightly high estimate costs the donor pennies; one at the wrong scale costs the charity.
DEFAULT_PERCENT = Decimal("2.9")
# Stripe's currency conversion fee when the gift's currency is not the account's settlement
# currency: 2% for UK and EEA accounts (1% for US accounts; the higher is used), on top of the
# card fee (docs.stripe.com/currencies/conversions, stripe.com/gb/pricing).
CONVERSION_PERCENT = Decimal("2")


def fee_rate(currency: str, settlement_currency: str | None = None) -> FeeRate:
    """The estimated fee on a gift in ``currency`` for an account settling in ``settlement_currency``
    (None: the account settles every currency it charges, no conversion)."""
    code = currency.lower()
    rate = FEE_RATES.get(code)
    if rate is None:
        fixed = int(
            (Decimal(STRIPE_MINIMUM_CHARGE.get(code, 50)) * Decimal("0.6")).to_integral_value(ROUND_CEILING)
        )
        rate = FeeRate(DEFAULT_PERCENT, fixed)
    if settlement_currency and settlement_currency.lower() != code:
        rate = FeeRate(rate.percent + CONVERSION_PERCENT, rate.fixed)
    return rate


def fee_cover_for(gift: int, currency: str, settlement_currency: str | None = None) -> int:
    """The smallest addition after which the standard fee on the total leaves the gift intact."""
    rate = fee_rate(currency, settlement_currency)
    # Solve total - (total * p + fixed) >= gift for the smallest whole total, then step up
    # while the per-charge rounding still eats into the gift.
    total = int(((Decimal(gift) + rate.fixed) / (1 - rate.percent / 100)).to_integral_value(ROUND_CEILING))
    while total - rate.fee_on(total) < gift:
        total += 1
    return total - gift
