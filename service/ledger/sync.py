"""Backfill from Stripe's Events API: apply every event of the last days the ledger lacks.

Stripe keeps events for 30 days. Each listed event goes through the same store-then-process
path as a webhook delivery, so running this at any time (from cron, during an outage, twice at
once) changes nothing that is already right.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..models import Appeal, Payout, utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .apply_context import LedgerContext
from .apply_payouts import link_payments
from .dispatch import EVENT_TYPES
from .receiving import apply_waiting, process_event, store_event

MAX_WINDOW = timedelta(days=30)
# stripe-python 16.1's EventListParams: "types: An array of up to 20 strings"; more is refused.
MAX_TYPES_PER_CALL = 20
_SPAN = re.compile(r"^(\d{1,4})([dhm])$")


def parse_span(text: str) -> timedelta:
    """``3d``, ``12h`` or ``90m``; at most Stripe's 30-day retention."""
    match = _SPAN.match(text.strip().lower())
    if not match:
        raise ValueError("use a number followed by d, h or m, e.g. 3d")
    amount, unit = int(match.group(1)), match.group(2)
    span = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
    return min(span, MAX_WINDOW)


@dataclass
class SyncReport:
    listed: int = 0
    stored: int = 0
    payouts_relinked: int = 0
    waiting_applied: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


def sync_events(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    settings: Settings,
    since: timedelta,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """List events created in the window (newest first, page by page) and apply those not yet applied.

    The handled types are asked for in groups of at most 20 (Stripe's limit per call); each group
    is listed to its end before the next, which is safe because applying is order-independent.
    """
    report = SyncReport()
    created_gte = int((utcnow() - since).timestamp())
    for start in range(0, len(EVENT_TYPES), MAX_TYPES_PER_CALL):
        types = EVENT_TYPES[start : start + MAX_TYPES_PER_CALL]
        _sync_types(sessions, gateway, settings, created_gte, types, report, progress, None)
    # A charity's own payouts are its account's events, not the platform's: list them per account.
    for account in connected_accounts(sessions):
        _sync_types(
            sessions, gateway, settings, created_gte, CONNECTED_EVENT_TYPES, report, progress, account
        )
    # Events come newest first, so a refund may have been listed before the invoice it needs.
    report.waiting_applied = apply_waiting(sessions, gateway, settings)
    report.payouts_relinked = relink_payouts(sessions, gateway, settings, utcnow() - since)
    return report


# What the ledger reads from a charity's connected account (docs/webhooks.md, the Connect endpoint).
CONNECTED_EVENT_TYPES = [t for t in EVENT_TYPES if t.startswith("payout.")]


def connected_accounts(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as db:
        return sorted(
            set(db.scalars(select(Appeal.stripe_account).where(Appeal.stripe_account.is_not(None))))
        )


def _sync_types(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    settings: Settings,
    created_gte: int,
    types: list[str],
    report: SyncReport,
    progress: Callable[[SyncReport], None] | None,
    account: str | None,
) -> None:
    starting_after: str | None = None
    while True:
        page, has_more = gateway.list_events(
            created_gte=created_gte, types=types, starting_after=starting_after, account=account
        )
        for event in page:
            report.listed += 1
            with sessions() as db:
                # stripe-python turns Stripe's "*_decimal" strings into Decimal; str() restores them.
                if store_event(db, event, json.dumps(event, default=str), source="sync"):
                    report.stored += 1
            # Only events never processed, or that failed, are applied; the rest are left alone.
            outcome = process_event(sessions, gateway, settings, event["id"])
            if not outcome.duplicate_delivery:
                report.outcomes[outcome.outcome] += 1
        if progress is not None:
            progress(report)
        if not has_more or not page:
            return
        starting_after = page[-1]["id"]


def relink_payouts(
    sessions: sessionmaker[Session], gateway: StripeGateway, settings: Settings, since: datetime
) -> int:
    """Link payments to the window's payouts again.

    Events come newest first, and webhooks in any order, so a payout can be applied before a
    payment it carried was recorded; asking Stripe again settles that.
    """
    with sessions() as db:
        payouts = list(db.scalars(select(Payout).where(Payout.stripe_created_at >= since)))
        linked = 0
        for payout in payouts:
            linked += link_payments(LedgerContext(db, gateway, settings), payout)
        db.commit()
    return linked
