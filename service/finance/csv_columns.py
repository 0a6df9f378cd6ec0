"""CSV columns that say what they hold: money written twice, the currency in every row.

A money column is a decimal in its currency's major unit (``25.00``, what a person reads; two
decimals for two-decimal currencies, none for JPY) followed by ``<name>_minor`` in integer minor
units (``2500``, what sums exactly), and the row names the currency each money column is in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ..currencies import exponent


@dataclass(frozen=True)
class Column:
    """One source value: its header, its key in the row, and for money the key of its currency."""

    name: str
    key: str
    currency: str | None = None


def plain(*keys: str) -> tuple[Column, ...]:
    return tuple(Column(key, key) for key in keys)


@lru_cache(maxsize=64)
def _places(currency: str) -> int:
    return -exponent(currency)


def major(amount: int | None, currency: str | None) -> Decimal | None:
    """2500 gbp -> Decimal('25.00'); 2500 jpy -> Decimal('2500'): exact, in the currency's places."""
    if amount is None or not currency:
        return None
    return Decimal(int(amount)).scaleb(_places(currency.lower()))


def header(columns: Sequence[Column]) -> list[str]:
    names: list[str] = []
    for column in columns:
        names.extend([column.name, f"{column.name}_minor"] if column.currency else [column.name])
    return names


def cells(columns: Sequence[Column], row: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    for column in columns:
        value = row.get(column.key)
        if column.currency is None:
            out.append(value)
        else:
            out.append(major(value, row.get(column.currency)))
            out.append(value)
    return out
