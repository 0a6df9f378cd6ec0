"""CPU time per webhook event inside one process, without gunicorn or the network noise of a load test.

    .venv/bin/python -m bench.profile_webhook --db postgresql --events 2000
    .venv/bin/py-spy record --gil -r 500 -f raw -o /tmp/webhook.txt -- \\
        .venv/bin/python -m bench.profile_webhook --db postgresql --events 2000
    .venv/bin/python -m bench.profile_webhook --summarise /tmp/webhook.txt

Creates pending donations in a fresh ``bench`` database (the same rows and signed
``checkout.session.completed`` events as ``bench/run.py``'s webhook scenario), posts each event
once through the Flask test client, then the same events again (duplicate deliveries), and
reports the process's user and system CPU per event for each pass, and per ``GET /livez`` (the
floor: the test client, Flask and the request hooks with no work in the view). Under ``py-spy --gil`` only
samples holding the GIL count, which approximates Python CPU time; ``--summarise`` prints the
share of those samples spent under the functions that matter.
"""

from __future__ import annotations

import json
import resource
import time

from sqlalchemy import func, select

from service import create_app, extensions
from service.donations.models import Donation, DonationStatus
from service.models import Payment, WebhookEvent
from service.settings import Settings

from . import profiling, webhook_events
from .run import prepare_database

SECRET = "whsec_profile_only_secret"  # noqa: S105 - a local profile's signing secret
DEPLOYMENT = "donation-router"
ROOT = "stripe_webhook (service/ledger/views.py"
WATCH = (
    ROOT, "verify_signature (service/ledger/signature.py", "parse_event (service/ledger/receiving.py",
    "receive (service/ledger/receiving.py", "_store_and_apply (service/ledger/receiving.py",
    "store_event (service/ledger/receiving.py", "process_event (service/ledger/receiving.py",
    "apply_session (service/ledger/apply_checkout.py", "record_session (service/donations/states.py",
    "lock_donation_for_session (service/donations/states.py", "upsert_payment (service/ledger/payments.py",
    "_record (service/ledger/receiving.py", "_execute_internal (sqlalchemy/orm/session.py",
    "commit (sqlalchemy/orm/session.py", "_connection_for_bind (sqlalchemy/orm/session.py",
    "close (sqlalchemy/orm/session.py", "do_ping (sqlalchemy/dialects/postgresql/_psycopg_common.py",
    "execute (psycopg/cursor.py", "emit (logging/__init__.py", "webhook_delivery (service/metrics.py",
    "_count_request (service/metrics.py", "_finish (service/http_hooks.py",
    "jsonify (flask/json/__init__.py", "full_dispatch_request (flask/app.py",
)  # fmt: skip


def _signed(events: int, url: str, prefix: str) -> list[tuple[str, str]]:
    ids = webhook_events.create_pending_donations(url, events, prefix=prefix)
    lines = [webhook_events.signed_line(SECRET, webhook_events.completed_event(i, DEPLOYMENT)) for i in ids]
    return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]


def _post_all(client, events: list[tuple[str, str]], expect: str) -> None:  # type: ignore[no-untyped-def]
    for signature, body in events:
        response = client.post(
            "/webhooks/stripe", data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["outcome"] == expect, response.get_json()


def measure(backend: str, events: int) -> None:
    url = prepare_database(backend, name="bench_webhook")
    settings = Settings(
        environment="development", database_url=url, stripe_api_base="http://127.0.0.1:9",
        stripe_webhook_secrets=(SECRET,), deployment_id=DEPLOYMENT, database_pool_size=5,
    )  # fmt: skip
    app = create_app(settings=settings)
    profiling.quiet_logs()
    client = app.test_client()
    stamp = int(time.time())
    _post_all(client, _signed(50, url, f"warm{stamp}"), "processed")
    signed = _signed(events, url, f"p{stamp}")
    before = resource.getrusage(resource.RUSAGE_SELF)
    _post_all(client, signed, "processed")
    user, system = profiling.cpu_ms(before, events)
    print(
        f"{backend}: first delivery CPU {user + system:.2f} ms/event (user {user:.2f}, system {system:.2f})"
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    _post_all(client, signed, "processed")
    user, system = profiling.cpu_ms(before, events)
    print(f"{backend}: duplicate delivery CPU {user + system:.2f} ms/event")
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(events):
        assert client.get("/livez").status_code == 200
    user, system = profiling.cpu_ms(before, events)
    print(f"{backend}: GET /livez through the same client and hooks (the floor) {user + system:.2f} ms")
    # The effects, so a faster path that applies nothing cannot look like a win.
    with extensions.database(app).sessionmaker() as db:
        paid = db.scalar(
            select(func.count()).where(
                Donation.id.like(f"don_p{stamp}%"), Donation.status == DonationStatus.PAID
            )
        )
        payments = db.scalar(select(func.count()).where(Payment.donation_id.like(f"don_p{stamp}%")))
        deliveries = db.scalar(
            select(func.sum(WebhookEvent.delivery_count)).where(
                WebhookEvent.stripe_event_id.like(f"evt_don_p{stamp}%")
            )
        )
    print(json.dumps({"paid": paid, "payments": payments, "deliveries": deliveries}))
    assert paid == payments == events and deliveries == 2 * events


def summarise(path: str) -> None:
    # Only the webhook posts: the floor's GET /livez runs outside _post_all.
    total = profiling.summarise(
        path,
        WATCH,
        lambda stack: "_post_all (bench/profile_webhook.py" in stack and "full_dispatch_request" in stack,
    )
    print(f"{total} samples of webhook requests (under full_dispatch_request)")


if __name__ == "__main__":
    profiling.main(__doc__ or "", "events", 2000, measure, summarise)
