"""Monthly gifts that stopped, and those at risk of stopping: one query each, for every reader.

The finance API and pages (through ``service.finance.use_cases``) and ``flask donations monthly``
all read these two functions.

* **Cancellations**: monthly gifts whose subscription ended, by when it ended, with who stopped it
  (``service/cancellations.py``: the donor in the portal, the last failed retry, a dispute, or
  staff), the reason and comment the donor gave in Stripe's portal (the comment only to tokens
  that see personal data: it is the donor's own words), and how many payments the gift made.
* **At risk**: running gifts whose last payment failed, or whose Direct Debit mandate the donor's
  bank reports inactive (``service/ledger/apply_mandates.py``: the next debit will fail). ``past_due``: Stripe is retrying the
  card (the donor has an "update your card" email with the portal link); ``unpaid``: Stripe's
  retries are over and the subscription stays open without charging (the account's setting, see
  Billing → Revenue recovery); with the other setting the gift is cancelled instead and appears
  under cancellations as ``payment_failed``. Each with the failed attempts the ledger has seen.

Cards due to expire before the next payment are not listed: the ledger never holds card details
(expiry included). Stripe's own "card expiring" emails to donors cover them (Billing settings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ...donations.models import Donation, DonationStatus
from ...models import Appeal, Payment, WebhookEvent
from .scope import Scope

AT_RISK = ("past_due", "unpaid")
ENDED = ("canceled", "incomplete_expired")
CANCELLATION_COLUMNS = [
    "donation_id", "appeal", "cancelled_at", "cancelled_by", "amount", "currency", "payments",
    "started_at", "subscription_status", "feedback", "comment",
]  # fmt: skip
AT_RISK_COLUMNS = [
    "donation_id", "appeal", "subscription_status", "mandate_status", "since", "amount", "currency",
    "failed_attempts", "last_failed_at", "payments", "started_at",
]  # fmt: skip
RUNNING = (DonationStatus.PAID, DonationStatus.PARTIALLY_REFUNDED)


def mandate_gone() -> Any:
    """A running monthly gift (paid, not ended) whose Direct Debit mandate the donor's bank reports
    inactive (``service/ledger/apply_mandates.py``): its next debit will fail. The dashboard's count
    per appeal (``pending_debits.mandates_at_risk``) and the at-risk list below both use it."""
    return (
        (Donation.frequency == "monthly")
        & (Donation.mandate_status == "inactive")
        & Donation.status.in_(RUNNING)
        & (Donation.subscription_status.is_(None) | Donation.subscription_status.not_in(ENDED))
    )


def _payments() -> Any:
    return (
        select(func.count())
        .where(Payment.donation_id == Donation.id, Payment.status == "succeeded")
        .correlate(Donation)
        .scalar_subquery()
    )


def _failures() -> tuple[Any, Any]:
    failed = (WebhookEvent.donation_id == Donation.id) & (WebhookEvent.type == "invoice.payment_failed")
    return (
        select(func.count()).where(failed).correlate(Donation).scalar_subquery(),
        select(func.max(WebhookEvent.event_created_at)).where(failed).correlate(Donation).scalar_subquery(),
    )


def _limited(query: Any, scope: Scope) -> Any:
    limit = scope.limit(Donation.appeal_id)
    return query if limit is None else query.where(limit)


def cancellations(
    db: Session,
    scope: Scope,
    lower: datetime | None = None,
    upper: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Ended monthly gifts, latest first, ended in [lower, upper) when given."""
    ended_at = func.coalesce(Donation.cancelled_at, Donation.subscription_status_at)
    query = (
        select(
            Donation.id, Appeal.slug, ended_at.label("ended_at"), Donation.cancelled_by,
            (Donation.amount + Donation.fee_cover_amount).label("amount"), Donation.currency,
            _payments().label("payments"), Donation.paid_at, Donation.subscription_status,
            Donation.cancellation_feedback, Donation.cancellation_comment,
        )
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(Donation.frequency == "monthly", Donation.subscription_status.in_(ENDED))
        .order_by(ended_at.desc(), Donation.id)
    )  # fmt: skip
    if lower is not None:
        query = query.where(ended_at >= lower)
    if upper is not None:
        query = query.where(ended_at < upper)
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "donation_id": row.id, "appeal": row.slug, "cancelled_at": row.ended_at,
            # Gifts that ended before who-stopped-it was recorded: the reason says what is known.
            "cancelled_by": row.cancelled_by or ("donor" if row.cancellation_feedback else "unknown"),
            "amount": int(row.amount), "currency": row.currency, "payments": int(row.payments or 0),
            "started_at": row.paid_at, "subscription_status": row.subscription_status,
            "feedback": row.cancellation_feedback,
            "comment": row.cancellation_comment if scope.personal_data else None,
        }
        for row in db.execute(_limited(query, scope))
    ]  # fmt: skip


def at_risk(db: Session, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Running monthly gifts whose last payment failed or whose mandate is gone, longest at risk first."""
    attempts, last_failed = _failures()
    since = func.coalesce(Donation.subscription_status_at, Donation.mandate_status_at)
    query = (
        select(
            Donation.id, Appeal.slug, Donation.subscription_status, Donation.mandate_status,
            case((Donation.subscription_status.in_(AT_RISK), Donation.subscription_status_at),
                 else_=Donation.mandate_status_at).label("since"),
            (Donation.amount + Donation.fee_cover_amount).label("amount"), Donation.currency,
            attempts.label("attempts"), last_failed.label("last_failed"), _payments().label("payments"),
            Donation.paid_at,
        )
        .join(Appeal, Appeal.id == Donation.appeal_id)
        .where(Donation.frequency == "monthly", Donation.subscription_status.in_(AT_RISK) | mandate_gone())
        .order_by(since, Donation.id)
    )  # fmt: skip
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "donation_id": row.id, "appeal": row.slug, "subscription_status": row.subscription_status,
            "mandate_status": row.mandate_status, "since": row.since, "amount": int(row.amount), "currency": row.currency,
            "failed_attempts": int(row.attempts or 0), "last_failed_at": row.last_failed,
            "payments": int(row.payments or 0), "started_at": row.paid_at,
        }
        for row in db.execute(_limited(query, scope))
    ]  # fmt: skip


def report(db: Session, scope: Scope, lower: datetime | None, upper: datetime | None) -> dict[str, Any]:
    """Both lists with counts, and the amount at risk per currency (never added across currencies)."""
    stopped = cancellations(db, scope, lower, upper)
    risky = at_risk(db, scope)
    by_who: dict[str, int] = {}
    for line in stopped:
        by_who[line["cancelled_by"]] = by_who.get(line["cancelled_by"], 0) + 1
    monthly_at_risk: dict[str, int] = {}
    for line in risky:
        monthly_at_risk[line["currency"]] = monthly_at_risk.get(line["currency"], 0) + line["amount"]
    return {
        "cancellations": stopped,
        "at_risk": risky,
        "cancelled_by": by_who,
        "monthly_amount_at_risk": [
            {"currency": currency, "amount": amount} for currency, amount in sorted(monthly_at_risk.items())
        ],
    }
