"""Existing donations and signed ``checkout.session.completed`` events for them, for wrk to send.

Donations are inserted in bulk (pending, each with its own Checkout Session id), then one event
per donation is written as ``signature<TAB>body`` lines. Signatures carry the current time, so the
file must be used within Stripe's five-minute tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, select

from service.donations.models import Donation
from service.models import Appeal

BATCH = 5000


def create_pending_donations(database_url: str, count: int, prefix: str) -> list[str]:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    ids = [f"don_{prefix}{i:012d}" for i in range(count)]
    with engine.begin() as conn:
        appeal_id = conn.scalar(select(Appeal.id).where(Appeal.slug == "red-cross-ukraine"))
        rows = [
            {
                "id": donation_id, "appeal_id": appeal_id, "amount": 2500, "currency": "gbp",
                "frequency": "one_off", "status": "pending", "stripe_checkout_session_id": f"cs_{donation_id}",
                "checkout_attempts": 1, "created_at": now, "updated_at": now, "fee_cover_amount": 0,
                "anonymous": False, "gift_aid": False, "amount_refunded": 0, "needs_attention": False,
            }
            for donation_id in ids
        ]  # fmt: skip
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(Donation), rows[start : start + BATCH])
    engine.dispose()
    return ids


def signed_line(secret: str, event: dict) -> str:
    body = json.dumps(event, separators=(",", ":"))
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}\t{body}"


def completed_event(donation_id: str, deployment: str) -> dict:
    now = int(time.time())
    session = {
        "id": f"cs_{donation_id}", "object": "checkout.session", "status": "complete",
        "payment_status": "paid", "mode": "payment", "amount_total": 2500, "currency": "gbp",
        "payment_intent": f"pi_{donation_id}", "customer": None, "subscription": None,
        "client_reference_id": donation_id, "payment_link": None, "livemode": False,
        "expires_at": now + 3600, "url": None,
        "metadata": {"donation_id": donation_id, "appeal": "red-cross-ukraine", "deployment": deployment},
    }  # fmt: skip
    return {
        "id": f"evt_{donation_id}", "object": "event", "type": "checkout.session.completed",
        "api_version": "2026-10-28.endive", "created": now, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "data": {"object": session},
    }  # fmt: skip


def write_events(path: Path, donation_ids: list[str], secret: str, deployment: str) -> None:
    with path.open("w") as out:
        for donation_id in donation_ids:
            out.write(signed_line(secret, completed_event(donation_id, deployment)) + "\n")
