""" "Email me my link": a donor who lost their receipt asks for fresh manage links by address.

The answer is the same whether or not the address has gifts with us (no enumeration), and the
work behind it is only a query and, when something is found, one outbox row: the email itself
goes out from the worker. Requests are limited per client address and per email address (hashed
before it is used as a key), so the form cannot be used to flood someone's inbox; the counts are
kept where the donation limits are (Redis when configured, else this process).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .donations.models import Donation
from .manage import can_manage
from .outbox import queue
from .settings import Settings

PER_CLIENT = parse("5/hour")
PER_ADDRESS = parse("3/day")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


class LinkRequestLimiter:
    def __init__(self, settings: Settings):
        uri = settings.redis_url or "memory://"
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self.prefix = f"{settings.deployment_id}:link-requests"

    def allow(self, client: str, email: str) -> bool:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        try:
            return self.limiter.hit(PER_CLIENT, self.prefix, "client", client) and self.limiter.hit(
                PER_ADDRESS, self.prefix, "address", digest
            )
        except Exception:  # noqa: BLE001 - a Redis outage must not block a donor; the answer is neutral anyway
            return True


def valid_email(text: str) -> str | None:
    email = text.strip()
    return email if len(email) <= 320 and EMAIL.match(email) else None


def request_links(db: Session, email: str) -> int:
    """Queue one email with a fresh link to each running monthly gift of ``email``; commits."""
    donations = [
        d
        for d in db.scalars(
            select(Donation)
            .where(func.lower(Donation.email) == email.lower(), Donation.frequency == "monthly")
            .order_by(Donation.created_at.desc())
        )
        if can_manage(d)
    ]
    if donations:
        queue(
            db,
            f"manage_links:{secrets.token_hex(12)}",
            "manage_links",
            donation_id=donations[0].id,
            context={"donation_ids": [d.id for d in donations]},
        )
    db.commit()
    return len(donations)
