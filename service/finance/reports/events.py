"""The webhook delivery log: one row per Stripe event, with what the ledger made of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ...donations.models import Donation
from ...errors import NotFound
from ...models import WebhookEvent
from ..pagination import Page, paginate
from .scope import Scope, day_bounds

LIST_COLUMNS = (
    WebhookEvent.id,
    WebhookEvent.stripe_event_id,
    WebhookEvent.type,
    WebhookEvent.outcome,
    WebhookEvent.outcome_reason,
    WebhookEvent.needs_review,
    WebhookEvent.livemode,
    WebhookEvent.source,
    WebhookEvent.delivery_count,
    WebhookEvent.event_created_at,
    WebhookEvent.received_at,
    WebhookEvent.processed_at,
    WebhookEvent.donation_id,
    WebhookEvent.object_id,
)


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    outcome: str | None = None
    donation: str | None = None
    needs_review: bool | None = None
    start: date | None = None
    end: date | None = None


def _query(scope: Scope, filters: EventFilters) -> Select[Any]:
    query = select(*LIST_COLUMNS)
    if scope.appeal_ids is not None:
        # A restricted token sees only events tied to its appeals' donations.
        query = query.join(Donation, Donation.id == WebhookEvent.donation_id).where(
            scope.limit(Donation.appeal_id)
        )
    if filters.type:
        # A trailing '*' matches a family of types, as in Stripe's own event filter.
        if filters.type.endswith("*"):
            query = query.where(WebhookEvent.type.startswith(filters.type[:-1], autoescape=True))
        else:
            query = query.where(WebhookEvent.type == filters.type)
    if filters.outcome:
        query = query.where(WebhookEvent.outcome == filters.outcome)
    if filters.donation:
        query = query.where(WebhookEvent.donation_id == filters.donation)
    if filters.needs_review is not None:
        query = query.where(WebhookEvent.needs_review == filters.needs_review)
    lower, upper = day_bounds(filters.start, filters.end)
    if lower:
        query = query.where(WebhookEvent.received_at >= lower)
    if upper:
        query = query.where(WebhookEvent.received_at < upper)
    return query


def list_events(db: Session, scope: Scope, filters: EventFilters, cursor: str | None, limit: int) -> Page:
    """Newest first; the id order is the order the service received them."""
    return paginate(db, _query(scope, filters), [WebhookEvent.id], [int], cursor, limit)


def get_event(db: Session, scope: Scope, event_id: int) -> dict[str, Any]:
    """One delivery; the raw payload only for roles that may see donor personal data."""
    row = db.execute(
        _query(scope, EventFilters()).add_columns(WebhookEvent.payload).where(WebhookEvent.id == event_id)
    ).first()
    if row is None:
        raise NotFound("No such webhook event.")
    item = dict(row._mapping)
    raw = item.pop("payload")
    if scope.personal_data:
        try:
            item["payload"] = json.loads(raw)
        except ValueError:
            item["payload"] = raw  # kept verbatim even if it was not JSON; show it as text
    return item


def export(scope: Scope, filters: EventFilters) -> tuple[list[str], Select[Any]]:
    """Header and query for streaming the whole filtered log, oldest first."""
    query = _query(scope, filters).order_by(WebhookEvent.id)
    return [column.key for column in query.selected_columns], query
