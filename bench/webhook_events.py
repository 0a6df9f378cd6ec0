"""Existing donations and signed ``checkout.session.completed`` events for them, for wrk to send.

Donations are inserted in bulk (pending, each with its own Checkout Session id), then one event
per donation is written as ``signature<TAB>body`` lines. Signatures carry the current time, so the
file must be used within Stripe's five-minute tolerance.

The endpoint only stores and acknowledges each event; the job worker applies it. So the scenario
also starts the worker (:func:`start_worker`) and times how long it takes to apply what was
stored (:func:`wait_for_drain`), then checks every donation ended paid with one payment
(:func:`check_effects`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select

from service.donations.models import Donation
from service.models import Appeal, Payment, WebhookEvent, WebhookOutcome

from .procs import ROOT, cpu_seconds

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


def start_worker(
    env: dict[str, str], threads: int = 2, log_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """The Procfile's worker (``huey_consumer service.worker.huey``, 2 threads) on the run's queue.

    Periodic jobs are off (``--no-periodic``): the drain measures the queued apply jobs only.
    """
    out = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115 - kept open for the child
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/huey_consumer"), "service.worker.huey", "--workers", str(threads),
         "--worker-type", "thread", "--no-periodic"],
        cwd=ROOT, env={**os.environ, **env}, stdout=out,
        stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
    )  # fmt: skip


def backlog(database_url: str, prefix: str) -> int:
    """Events of this run still stored as ``received`` (not applied yet)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        left = conn.scalar(
            select(func.count()).where(
                WebhookEvent.stripe_event_id.like(f"evt_don_{prefix}%"),
                WebhookEvent.outcome == WebhookOutcome.RECEIVED,
            )
        )
    engine.dispose()
    return int(left or 0)


def wait_for_drain(database_url: str, prefix: str, worker_pid: int, limit: float = 900.0) -> dict:
    """Poll until every stored event of the run is applied; the worker's wall time and CPU for it."""
    first = left = backlog(database_url, prefix)
    deadline = time.monotonic() + limit
    # Timed from the first applied event: the worker's start-up (building the app) is not draining.
    while left == first and first and time.monotonic() < deadline:
        time.sleep(0.1)
        left = backlog(database_url, prefix)
    started, cpu_before = time.monotonic(), cpu_seconds([worker_pid])
    first = left
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = backlog(database_url, prefix)
    wall = time.monotonic() - started
    cpu = cpu_seconds([worker_pid]) - cpu_before
    applied = first - left
    return {"backlog_at_start": first, "left": left, "drain_s": round(wall, 1),
            "drain_events_per_s": round(applied / wall, 1) if wall else None,
            "worker_cpu_ms_per_event": round(cpu * 1000 / max(1, applied), 3)}  # fmt: skip


def check_effects(database_url: str, prefix: str) -> dict:
    """Every stored event of the run applied, and each of its donations paid with exactly one payment."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        events = dict(
            conn.execute(
                select(WebhookEvent.outcome, func.count())
                .where(WebhookEvent.stripe_event_id.like(f"evt_don_{prefix}%"))
                .group_by(WebhookEvent.outcome)
            ).all()
        )
        stored = sum(events.values())
        paid = conn.scalar(
            select(func.count()).where(Donation.id.like(f"don_{prefix}%"), Donation.status == "paid")
        )
        payments = conn.execute(
            select(func.count(), func.count(func.distinct(Payment.donation_id))).where(
                Payment.donation_id.like(f"don_{prefix}%")
            )
        ).one()
    engine.dispose()
    return {"events": events, "stored": stored, "paid": paid, "payments": payments[0],
            "donations_with_a_payment": payments[1],
            "ok": stored == paid == payments[0] == payments[1] and events.get("processed") == stored}  # fmt: skip
