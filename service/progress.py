"""Live appeal progress: money received per currency, gifts, goal and percentage.

Why a cached aggregate rather than a running-total table: the totals are read from the
ledger's own payment rows, so they can never drift from what finance reconciles (no second
source of truth to keep in step with every ledger path: webhooks, replays, backfills, bulk
corrections). The aggregate is one indexed query over one appeal's payments, run at most once
per ``ttl`` seconds per worker process (service/ttl_cache.py: a lock stops a stampede when the
entry expires), and readers mostly hit the ``Cache-Control``/``ETag`` layers in front of it
(browsers, CDNs), so its cost is bounded by time, not by how many people read a viral article. A 15-second-old total is
fine for a progress bar.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .donations.models import Donation
from .donations.totals import received_by_currency
from .models import Appeal


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    amount: int
    gifts: int


@dataclass(frozen=True)
class Progress:
    appeal: str
    totals: tuple[CurrencyTotal, ...]
    gifts: int
    goal_amount: int | None
    goal_currency: str | None
    updated_at: datetime | None
    # Bank debits the donor has authorised but their bank has not yet paid (days, for Bacs and
    # SEPA): shown apart so a progress bar never counts money that may still fail.
    pledged: tuple[CurrencyTotal, ...] = ()
    # Match funding is kept apart from what donors gave (service/matching).
    matched: tuple[CurrencyTotal, ...] = ()
    match: tuple[Any, ...] = ()  # live MatchOffer entries

    @property
    def percentage(self) -> float | None:
        """Share of the goal raised in the goal's currency (no currency conversion is guessed)."""
        if not self.goal_amount or not self.goal_currency:
            return None
        raised = next((t.amount for t in self.totals if t.currency == self.goal_currency), 0)
        return round(100 * raised / self.goal_amount, 1)

    @property
    def etag(self) -> str:
        """Changes exactly when a figure a reader can see changes (not when it is recomputed)."""
        parts = [self.appeal, str(self.goal_amount), str(self.goal_currency), str(self.updated_at)]
        parts += [f"{t.currency}:{t.amount}:{t.gifts}" for t in self.totals]
        parts += [f"pledged:{t.currency}:{t.amount}:{t.gifts}" for t in self.pledged]
        parts += [f"matched:{t.currency}:{t.amount}" for t in self.matched]
        parts += [f"{m.funder}:{m.ratio}:{m.ends_at}:{sorted(m.remaining.items())}" for m in self.match]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def compute_progress(db: Session, appeal: Appeal) -> Progress:
    """One aggregate over the appeal's payments: gifts only, fee cover and refunds excluded."""
    rows = received_by_currency(db, appeal.id)
    totals = tuple(CurrencyTotal(row.currency, row.amount, row.gifts) for row in rows)
    last = max((row.updated_at for row in rows if row.updated_at is not None), default=None)
    from .matching.display import live_offers, matched_totals

    matched = matched_totals(db, appeal.id)
    return Progress(
        appeal=appeal.slug,
        totals=tuple(t for t in totals if t.amount > 0),
        gifts=sum(t.gifts for t in totals),  # a gift has one currency, so no double counting
        goal_amount=appeal.goal_amount,
        goal_currency=appeal.goal_currency,
        updated_at=last,
        pledged=pledged_totals(db, appeal),
        matched=tuple(CurrencyTotal(code, amount, 0) for code, amount in sorted(matched.items())),
        match=tuple(live_offers(db, appeal.id)),
    )


def pledged_totals(db: Session, appeal: Appeal) -> tuple[CurrencyTotal, ...]:
    """Gifts whose bank debit is processing, per currency (the gift only, as for ``raised``)."""
    from .donations.models import DonationStatus

    rows = db.execute(
        select(Donation.currency, func.sum(Donation.amount), func.count())
        .where(Donation.appeal_id == appeal.id, Donation.status == DonationStatus.PROCESSING)
        .group_by(Donation.currency)
        .order_by(Donation.currency)
    ).all()
    return tuple(CurrencyTotal(cur, int(amount or 0), int(gifts)) for cur, amount, gifts in rows)
