"""Estimating Stripe's processing fee so a donor can choose to cover it.

The estimate uses Stripe's standard published pricing for cards issued in the charity's region
(percentage plus a fixed amount per currency). It is an estimate: the real fee depends on the
card, and the ledger records the real one from the balance transaction. What the donor adds is
worked out so that, at the standard rate, the charity receives at least the whole gift:
``(gift + cover) - fee(gift + cover) >= gift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal


@dataclass(frozen=True)
class FeeRate:
    percent: Decimal  # e.g. Decimal("1.5") for 1.5 %
    fixed: int  # minor units

    def fee_on(self, amount: int) -> int:
        return int((Decimal(amount) * self.percent / 100).to_integral_value(ROUND_CEILING)) + self.fixed


# Standard domestic card pricing. Currencies without an entry use the most common rate; an
# estimate that is slightly high costs the donor pennies, one that is low costs the charity.
FEE_RATES: dict[str, FeeRate] = {
    "gbp": FeeRate(Decimal("1.5"), 20),
    "eur": FeeRate(Decimal("1.5"), 25),
    "usd": FeeRate(Decimal("2.9"), 30),
    "jpy": FeeRate(Decimal("3.6"), 0),
}
DEFAULT_RATE = FeeRate(Decimal("2.9"), 30)


def fee_rate(currency: str) -> FeeRate:
    return FEE_RATES.get(currency.lower(), DEFAULT_RATE)


def fee_cover_for(gift: int, currency: str) -> int:
    """The smallest addition after which the standard fee on the total leaves the gift intact."""
    rate = fee_rate(currency)
    # Solve total - (total * p + fixed) >= gift for the smallest whole total, then step up
    # while the per-charge rounding still eats into the gift.
    total = int(((Decimal(gift) + rate.fixed) / (1 - rate.percent / 100)).to_integral_value(ROUND_CEILING))
    while total - rate.fee_on(total) < gift:
        total += 1
    return total - gift
