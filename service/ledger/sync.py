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
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from ..models import utcnow
from ..settings import Settings
from ..stripe_gateway import StripeGateway
from .dispatch import EVENT_TYPES
from .receiving import process_event, store_event

MAX_WINDOW = timedelta(days=30)
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
    outcomes: Counter[str] = field(default_factory=Counter)


def sync_events(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    settings: Settings,
    since: timedelta,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """List events created in the window (newest first, page by page) and apply those not yet applied."""
    report = SyncReport()
    created_gte = int((utcnow() - since).timestamp())
    starting_after: str | None = None
    while True:
        page, has_more = gateway.list_events(
            created_gte=created_gte, types=EVENT_TYPES, starting_after=starting_after
        )
        for event in page:
            report.listed += 1
            with sessions() as db:
                if store_event(db, event, json.dumps(event), source="sync"):
                    report.stored += 1
            # Only events never processed, or that failed, are applied; the rest are left alone.
            outcome = process_event(sessions, gateway, settings, event["id"])
            if not outcome.duplicate_delivery:
                report.outcomes[outcome.outcome] += 1
        if progress is not None:
            progress(report)
        if not has_more or not page:
            return report
        starting_after = page[-1]["id"]
