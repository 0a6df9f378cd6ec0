"""Donations with their money facts (fees, net, refunds, disputes, payouts) and timelines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import Session, aliased

from ...donations.models import Donation, DonationStatus
from ...errors import NotFound
from ...models import Appeal, Payment, WebhookEvent
from ..csv_columns import Column, cells, plain
from ..pagination import Page, paginate
from .scope import Scope, day_bounds

# The appeal the donor's link named, when the gift went to its successor instead (else NULL).
Requested = aliased(Appeal, name="requested_appeal")
BASE_COLUMNS = (
    Donation.id,
    Appeal.slug.label("appeal"),
    Requested.slug.label("requested_appeal"),
    Donation.amount,
    Donation.currency,
    Donation.frequency,
    Donation.status,
    Donation.created_at,
    Donation.paid_at,
    Donation.checkout_expires_at,
    Donation.stripe_checkout_session_id,
    Donation.stripe_payment_intent_id,
    Donation.stripe_subscription_id,
    Donation.stripe_customer_id,
    Donation.source_url,
    Donation.referrer_host,
    Donation.utm_source,
    Donation.utm_medium,
    Donation.utm_campaign,
    Donation.utm_term,
    Donation.utm_content,
    Donation.needs_attention,
    Donation.attention_reason,
)
PERSONAL = ("email",)
# Checkouts that ended without a payment (the session expired, or Stripe refused to create one):
# left out of the donations list unless asked for. Created and pending gifts are still under way.
ABANDONED_STATUSES = (DonationStatus.CHECKOUT_ERROR, DonationStatus.EXPIRED)


@dataclass(frozen=True)
class DonationFilters:
    status: str | None = None
    currency: str | None = None
    frequency: str | None = None
    source: str | None = None
    requested_appeal: str | None = None
    start: date | None = None
    end: date | None = None
    # Statuses left out unless ``status`` names one of them (abandoned checkouts, by default).
    hidden: tuple[str, ...] = ()


def _query(scope: Scope, filters: DonationFilters) -> Select[Any]:
    columns: list[Any] = list(BASE_COLUMNS)
    if scope.personal_data:
        columns.append(Donation.email)
    query = (
        select(*columns)
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .outerjoin(
            Requested,
            (Requested.id == Donation.requested_appeal_id)
            & (Donation.requested_appeal_id != Donation.appeal_id),
        )
    )
    if scope.appeal_ids is not None:
        query = query.where(scope.limit(Donation.appeal_id))
    for column, value in (
        (Donation.status, filters.status),
        (Donation.currency, filters.currency),
        (Donation.frequency, filters.frequency),
        (Donation.utm_source, filters.source),
        (Requested.slug, filters.requested_appeal),
    ):
        if value:
            query = query.where(column == value)
    if filters.hidden and not filters.status:
        query = query.where(Donation.status.not_in(filters.hidden))
    lower, upper = day_bounds(filters.start, filters.end)
    if lower:
        query = query.where(Donation.created_at >= lower)
    if upper:
        query = query.where(Donation.created_at < upper)
    return query


def money_for(db: Session, donation_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per donation: payments count and sums, per-currency safe because a donation has one currency."""
    totals: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "payments": 0,
            "collected": 0,
            "fee": None,
            "net": None,
            "refunded": 0,
            "disputed": 0,
            "dispute_status": None,
            "payouts": [],
        }  # fmt: skip
    )
    if not donation_ids:
        return {}
    for p in db.scalars(select(Payment).where(Payment.donation_id.in_(donation_ids)).order_by(Payment.id)):
        t = totals[p.donation_id]
        t["payments"] += 1
        t["collected"] += p.amount
        t["refunded"] += p.amount_refunded
        if p.fee is not None and t.get("settlement_currency", p.settlement_currency) == p.settlement_currency:
            t["fee"] = (t["fee"] or 0) + p.fee
            t["net"] = (t["net"] or 0) + (p.net or 0)
            t["settlement_currency"] = p.settlement_currency
        elif p.fee is not None:
            # Payments of one donation settled in two currencies (the account's settlement
            # currency changed between renewals): no sum would mean anything; see its payments.
            t["fee"] = t["net"] = t["settlement_currency"] = None
        if p.dispute_id:
            t["disputed"] += p.dispute_amount or 0
            t["dispute_status"] = p.dispute_status
        if p.stripe_payout_id and p.stripe_payout_id not in t["payouts"]:
            t["payouts"].append(p.stripe_payout_id)
    return dict(totals)


def list_donations(
    db: Session, scope: Scope, filters: DonationFilters, cursor: str | None, limit: int
) -> tuple[Page, dict[str, dict[str, Any]]]:
    page = paginate(
        db, _query(scope, filters), [Donation.created_at, Donation.id], [datetime, str], cursor, limit
    )
    return page, money_for(db, [row.id for row in page.items])


def get_donation(db: Session, scope: Scope, donation_id: str) -> dict[str, Any]:
    """One donation, its payments and its timeline (every event about it, in Stripe's order)."""
    row = db.execute(_query(scope, DonationFilters()).where(Donation.id == donation_id)).first()
    if row is None:
        # The same answer for "not there" and "not yours", so ids of other appeals don't leak.
        raise NotFound("No such donation.")
    item = dict(row._mapping)
    item["money"] = money_for(db, [donation_id]).get(donation_id) or money_for_empty()
    item["payments"] = list(
        db.scalars(
            select(Payment).where(Payment.donation_id == donation_id).order_by(Payment.paid_at, Payment.id)
        )
    )
    item["timeline"] = timeline(db, item)
    monthly = db.execute(
        select(
            Donation.monthly_offer, Donation.one_off_amount, Donation.subscription_status,
            Donation.cancelled_by, Donation.cancelled_at, Donation.cancellation_feedback,
        ).where(Donation.id == donation_id)
    ).one()  # fmt: skip
    item["monthly"] = dict(monthly._mapping)
    return item


def money_for_empty() -> dict[str, Any]:
    return {"payments": 0, "collected": 0, "fee": None, "net": None, "refunded": 0, "disputed": 0,
            "dispute_status": None, "payouts": []}  # fmt: skip


def timeline(db: Session, donation: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened, oldest first: the donation's creation, then each Stripe event about it."""
    entries: list[dict[str, Any]] = [
        {"at": donation["created_at"], "kind": "donation.created", "detail": "Donor started checkout",
         "event_id": None, "outcome": None},
    ]  # fmt: skip
    events = db.execute(
        select(
            WebhookEvent.id,
            WebhookEvent.stripe_event_id,
            WebhookEvent.type,
            WebhookEvent.outcome,
            WebhookEvent.outcome_reason,
            WebhookEvent.event_created_at,
            WebhookEvent.received_at,
        )
        .where(WebhookEvent.donation_id == donation["id"])
        .order_by(WebhookEvent.event_created_at, WebhookEvent.id)
    )
    for e in events:
        entries.append(
            {
                "at": e.event_created_at or e.received_at,
                "kind": e.type,
                "detail": e.outcome_reason or e.outcome,
                "event_id": e.stripe_event_id,
                "delivery": e.id,
                "outcome": e.outcome,
                "received_at": e.received_at,
            }
        )
    return entries


# The donations CSV: one row per donation, its money as decimal plus minor units, each money
# column's currency named in the row (docs/finance.md). Fee and net are Stripe's, in the currency
# the Stripe balance settles in, over every payment collected; amount is one payment's.
EXPORT_COLUMNS = (
    Column("donation_id", "id"),
    Column("appeal", "appeal"),
    # The closed appeal the donor's link named, when the gift went to its successor (#18).
    Column("requested_appeal", "requested_appeal"),
    Column("frequency", "frequency"),
    Column("status", "status"),
    Column("created_at", "created_at"),
    Column("first_paid_at", "paid_at"),
    Column("currency", "currency"),
    Column("amount_per_payment", "amount", "currency"),
    Column("payments_collected", "payments"),
    Column("total_collected", "collected", "currency"),
    Column("refunded", "refunded", "currency"),
    Column("disputed", "disputed", "currency"),
    Column("dispute_status", "dispute_status"),
    Column("settlement_currency", "settlement_currency"),
    Column("stripe_fee", "fee", "settlement_currency"),
    Column("net", "net", "settlement_currency"),
    Column("payouts", "payout_ids"),
    Column("checkout_expires_at", "checkout_expires_at"),
    Column("stripe_checkout_session", "stripe_checkout_session_id"),
    Column("stripe_payment_intent", "stripe_payment_intent_id"),
    Column("stripe_subscription", "stripe_subscription_id"),
    Column("stripe_customer", "stripe_customer_id"),
    *plain(
        "source_url", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"
    ),
    *plain("needs_attention", "attention_reason"),
)
PERSONAL_EXPORT_COLUMNS = (Column("donor_email", "email"),)
EXPORT_BATCH = 500


def export_columns(scope: Scope) -> tuple[Column, ...]:
    return EXPORT_COLUMNS + (PERSONAL_EXPORT_COLUMNS if scope.personal_data else ())


def export_rows(connection: Connection, scope: Scope, filters: DonationFilters) -> Iterator[list[Any]]:
    """Every filtered donation, oldest first, with its payments' money, ``EXPORT_BATCH`` at a time."""
    columns = export_columns(scope)
    query = _query(scope, filters).order_by(Donation.created_at, Donation.id)
    result = connection.execution_options(stream_results=True, yield_per=EXPORT_BATCH).execute(query)
    try:
        with Session(bind=connection) as session:
            for batch in result.mappings().partitions(EXPORT_BATCH):
                money = money_for(session, [row["id"] for row in batch])
                for row in batch:
                    facts = money.get(row["id"]) or money_for_empty()
                    merged = {**row, **facts, "payout_ids": " ".join(facts["payouts"])}
                    yield cells(columns, merged)
    finally:
        result.close()
