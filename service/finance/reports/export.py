"""The accountant's export: one row per payment, every column needed to reconcile it.

Rows are read through a server-side cursor in batches (``yield_per``), so exporting a million
payments holds one batch in memory, not the whole result. Amounts appear twice: as a decimal in
the currency's major unit (what a person reads) and as integer minor units (what sums exactly).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, case, func, select

from ...currencies import exponent
from ...donations.models import Donation
from ...models import Appeal, Payment, Payout
from .scope import Scope, day_bounds

BATCH = 2000


@dataclass(frozen=True)
class PaymentFilters:
    start: date
    end: date
    currency: str | None = None


# (header, key, currency key) — a currency key marks a money column: written as major + minor.
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("payment_id", "id", None),
    ("donation_id", "donation_id", None),
    ("appeal", "appeal", None),
    ("charity", "charity_name", None),
    ("kind", "kind", None),
    ("frequency", "frequency", None),
    ("donation_status", "donation_status", None),
    ("paid_at", "paid_at", None),
    ("currency", "currency", None),
    ("amount", "amount", "currency"),
    ("refunded", "amount_refunded", "currency"),
    ("disputed", "dispute_amount", "currency"),
    ("dispute_status", "dispute_status", None),
    ("settlement_currency", "settlement_currency", None),
    # Stripe's balance transactions, in settlement_currency (converted when it is not currency).
    ("settlement_amount", "settlement_amount", "settlement_currency"),
    ("fee", "fee", "settlement_currency"),
    ("net", "net", "settlement_currency"),
    ("settlement_refunded", "settlement_refunded", "settlement_currency"),
    ("settlement_disputed", "settlement_disputed", "settlement_currency"),
    ("balance_transaction", "balance_transaction_id", None),
    ("payout", "stripe_payout_id", None),
    ("payout_arrival_date", "arrival_date", None),
    ("payout_status", "payout_status", None),
    ("stripe_payment_intent", "stripe_payment_intent_id", None),
    ("stripe_charge", "stripe_charge_id", None),
    ("stripe_invoice", "stripe_invoice_id", None),
    ("stripe_subscription", "stripe_subscription_id", None),
    ("stripe_checkout_session", "stripe_checkout_session_id", None),
    ("donation_created_at", "donation_created_at", None),
    ("source_url", "source_url", None),
    ("referrer_host", "referrer_host", None),
    ("utm_source", "utm_source", None),
    ("utm_medium", "utm_medium", None),
    ("utm_campaign", "utm_campaign", None),
    ("utm_term", "utm_term", None),
    ("utm_content", "utm_content", None),
    # Donor options (issue 6): the fee cover is part of ``amount``, shown apart for the books.
    ("fee_cover", "fee_cover_amount", "currency"),
    ("anonymous", "anonymous", None),
    ("gift_aid", "gift_aid", None),
    ("donor_email", "email", None),
)


def header() -> list[str]:
    names: list[str] = []
    for name, _key, currency in COLUMNS:
        names.extend([name, f"{name}_minor"] if currency else [name])
    return names


def _query(scope: Scope, filters: PaymentFilters) -> Any:
    lower, upper = day_bounds(filters.start, filters.end)
    query = (
        select(
            Payment.id,
            Payment.donation_id,
            Appeal.slug.label("appeal"),
            Appeal.charity_name,
            Payment.kind,
            Donation.frequency,
            Donation.status.label("donation_status"),
            Payment.paid_at,
            Payment.currency,
            Payment.amount,
            Payment.amount_refunded,
            case((Payment.dispute_id.is_(None), None), else_=func.coalesce(Payment.dispute_amount, 0)).label(
                "dispute_amount"
            ),
            Payment.dispute_status,
            Payment.settlement_currency,
            Payment.settlement_amount,
            Payment.fee,
            Payment.net,
            Payment.settlement_refunded,
            Payment.settlement_disputed,
            Payment.balance_transaction_id,
            Payment.stripe_payout_id,
            Payout.arrival_date,
            Payout.status.label("payout_status"),
            Payment.stripe_payment_intent_id,
            Payment.stripe_charge_id,
            Payment.stripe_invoice_id,
            Payment.stripe_subscription_id,
            Donation.stripe_checkout_session_id,
            Donation.created_at.label("donation_created_at"),
            Donation.source_url,
            Donation.referrer_host,
            Donation.utm_source,
            Donation.utm_medium,
            Donation.utm_campaign,
            Donation.utm_term,
            Donation.utm_content,
            Donation.fee_cover_amount,
            Donation.anonymous,
            Donation.gift_aid,
            Donation.email,
        )  # fmt: skip
        .join(Donation, Donation.id == Payment.donation_id)
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .outerjoin(Payout, Payout.stripe_payout_id == Payment.stripe_payout_id)
        .where(Payment.paid_at >= lower, Payment.paid_at < upper)
        .order_by(Payment.paid_at, Payment.id)
    )
    if filters.currency:
        query = query.where(Payment.currency == filters.currency)
    if scope.appeal_ids is not None:
        query = query.where(scope.limit(Donation.appeal_id))
    return query


@lru_cache(maxsize=64)
def _places(currency: str) -> int:
    return -exponent(currency)


def to_cells(row: Any) -> list[Any]:
    """One export row; money as an exact Decimal in major units (2500 gbp -> 25.00) plus minor units."""
    cells: list[Any] = []
    for _name, key, currency_key in COLUMNS:
        value = row[key]
        if currency_key is None:
            cells.append(value)
            continue
        code = row[currency_key]
        if code is None:  # a settlement figure before Stripe's balance transaction is known
            cells.extend((None, None))
            continue
        # scaleb keeps the currency's decimal places exactly (Decimal(2500).scaleb(-2) is 25.00),
        # which is all currencies.to_major does, minus its per-call quantize.
        major = Decimal(value).scaleb(_places(code)) if value is not None and code else None
        cells.append(major)
        cells.append(value)
    return cells


def stream_query(connection: Connection, query: Any) -> Iterator[list[Any]]:
    """Any query's rows as lists, ``BATCH`` at a time through a server-side cursor."""
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    try:
        for row in result:
            yield list(row)
    finally:
        result.close()


def payment_rows(connection: Connection, scope: Scope, filters: PaymentFilters) -> Iterator[list[Any]]:
    """Yield the export's rows in paid order, reading ``BATCH`` rows at a time from the database."""
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
        _query(scope, filters)
    )
    try:
        for row in result.mappings():
            yield to_cells(row)
    finally:
        result.close()
