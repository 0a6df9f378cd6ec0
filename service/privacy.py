"""Personal data: erasing one donor's, and scrubbing stored webhook payloads after retention.

What stays is what the law on financial records lets us keep and finance needs to reconcile:
amounts, currencies, dates, statuses and Stripe ids. What goes is what identifies a person:
email addresses, names, phone numbers and postal addresses, in our columns and inside the raw
Stripe events the ledger stores. Gift Aid declarations are HMRC records the charity must be able
to produce for years after a claim, so erasure keeps them unless told otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from .donations.models import Donation
from .models import WebhookEvent, utcnow

# Keys whose values identify a person wherever they appear in a Stripe object.
PERSONAL_KEYS = frozenset(
    {
        "email", "name", "phone", "address", "shipping", "shipping_details", "billing_details",
        "customer_email", "customer_name", "customer_phone", "customer_address", "customer_shipping",
        "receipt_email", "individual_name", "tax_ids", "customer_tax_ids",
    }
)  # fmt: skip
REDACTED_MARK = "_personal_data_removed"
GIFT_AID_COLUMNS = (
    "gift_aid_title",
    "gift_aid_first_name",
    "gift_aid_last_name",
    "gift_aid_house",
    "gift_aid_postcode",
)
BATCH = 500


def scrub(value: Any, email: str | None = None) -> Any:
    """A copy of a decoded Stripe object with personal fields nulled (and ``email`` wherever found)."""
    if isinstance(value, dict):
        return {
            key: (None if key in PERSONAL_KEYS and item is not None else scrub(item, email))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item, email) for item in value]
    if email and isinstance(value, str) and value.lower() == email:
        return None
    return value


def scrub_payload(payload: str, reason: str, email: str | None = None) -> str:
    try:
        event = json.loads(payload)
    except ValueError:
        return json.dumps({REDACTED_MARK: reason})
    if not isinstance(event, dict):
        return json.dumps({REDACTED_MARK: reason})
    cleaned = scrub(event, email)
    cleaned[REDACTED_MARK] = reason
    return json.dumps(cleaned, separators=(",", ":"))


@dataclass
class ErasureReport:
    email_found: bool = False
    donations: list[str] = field(default_factory=list)
    gift_aid_erased: list[str] = field(default_factory=list)
    gift_aid_kept: list[str] = field(default_factory=list)
    webhook_events: list[str] = field(default_factory=list)
    stripe_customers: list[str] = field(default_factory=list)


def erase_donor(db: Session, email: str, *, include_gift_aid: bool = False) -> ErasureReport:
    """Remove one donor's personal data inside the caller's transaction; report what changed."""
    email = email.strip().lower()
    report = ErasureReport()
    donations = db.scalars(select(Donation).where(func.lower(Donation.email) == email)).all()
    report.email_found = bool(donations)
    ids = [d.id for d in donations]
    report.donations = ids
    report.stripe_customers = sorted({d.stripe_customer_id for d in donations if d.stripe_customer_id})
    for donation in donations:
        # The postcode a match funder's rule asked for goes with the email; the match ledger keeps
        # only its district as the funder's evidence.
        values: dict[str, Any] = {"email": None, "match_postcode": None, "updated_at": utcnow()}
        has_declaration = any(getattr(donation, column, None) for column in GIFT_AID_COLUMNS)
        if has_declaration and donation.gift_aid and not include_gift_aid:
            report.gift_aid_kept.append(donation.id)
        elif has_declaration:
            values.update({column: None for column in GIFT_AID_COLUMNS})
            report.gift_aid_erased.append(donation.id)
        db.execute(update(Donation).where(Donation.id == donation.id).values(**values))
    # Events about these donations, and any other event that quotes the address (a Checkout
    # Session a donor completed with this email but no donation of ours matched, for instance).
    conditions = [func.lower(WebhookEvent.payload).contains(email, autoescape=True)]
    if ids:
        conditions.append(WebhookEvent.donation_id.in_(ids))
    for event in db.scalars(select(WebhookEvent).where(or_(*conditions))):
        event.payload = scrub_payload(event.payload, "erasure", email)
        report.webhook_events.append(event.stripe_event_id)
    return report


def redact_old_payloads(db: Session, retention_days: int, *, now: datetime | None = None) -> int:
    """Scrub personal fields from events received more than ``retention_days`` ago; commits per batch.

    Events still waiting for someone (received, failed, quarantined) keep their payload: a
    replay needs it whole. Returns how many payloads were scrubbed.
    """
    from .models import WebhookOutcome

    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    done = 0
    while True:
        batch = db.scalars(
            select(WebhookEvent)
            .where(
                WebhookEvent.received_at < cutoff,
                WebhookEvent.outcome.in_(
                    (WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE, WebhookOutcome.IGNORED)
                ),
                WebhookEvent.payload.not_like(f'%"{REDACTED_MARK}"%'),
            )
            .order_by(WebhookEvent.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return done
        for event in batch:
            event.payload = scrub_payload(event.payload, "retention")
        db.commit()
        done += len(batch)
