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

import argparse
import json
import logging
import os
import resource
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service import create_app
from service.appeals import SEED_FILE, load_file
from service.migrate import upgrade
from service.models import Donation, DonationStatus, Payment, WebhookEvent
from service.settings import Settings

from . import webhook_events
from .run import POSTGRES_URL, SQLITE_DIR

SECRET = "whsec_profile_only_secret"  # noqa: S105 - a local profile's signing secret
DEPLOYMENT = "donation-router"
ROOT = "stripe_webhook (service/ledger/views.py"
WATCH = (
    ROOT, "verify_signature (service/ledger/signature.py", "parse_event (service/ledger/receiving.py",
    "receive (service/ledger/receiving.py", "_store_and_apply (service/ledger/receiving.py",
    "store_event (service/ledger/receiving.py", "process_event (service/ledger/receiving.py",
    "apply_session (service/ledger/apply_checkout.py", "record_session (service/fulfilment.py",
    "lock_donation_for_session (service/fulfilment.py", "upsert_payment (service/ledger/payments.py",
    "_record (service/ledger/receiving.py", "_execute_internal (sqlalchemy/orm/session.py",
    "commit (sqlalchemy/orm/session.py", "_connection_for_bind (sqlalchemy/orm/session.py",
    "close (sqlalchemy/orm/session.py", "do_ping (sqlalchemy/dialects/postgresql/_psycopg_common.py",
    "execute (psycopg/cursor.py", "emit (logging/__init__.py", "webhook_delivery (service/metrics.py",
    "_count_request (service/metrics.py", "_finish (service/http_hooks.py",
    "jsonify (flask/json/__init__.py", "full_dispatch_request (flask/app.py",
)  # fmt: skip


def prepare_database(backend: str) -> str:
    """A fresh migrated database of its own (``bench_webhook``), so a bench.run at the same time is unharmed."""
    if backend == "sqlite":
        SQLITE_DIR.mkdir(exist_ok=True)
        path = SQLITE_DIR / "profile-webhook.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = make_url(POSTGRES_URL).set(database="bench_webhook").render_as_string(hide_password=False)
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS bench_webhook WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE bench_webhook"))
        admin.dispose()
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as db, db.begin():
        load_file(db, SEED_FILE)
    engine.dispose()
    return url


def _cpu_ms(before: resource.struct_rusage, n: int) -> tuple[float, float]:
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) * 1000 / n, (after.ru_stime - before.ru_stime) * 1000 / n


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
    url = prepare_database(backend)
    settings = Settings(
        environment="development", database_url=url, stripe_api_base="http://127.0.0.1:9",
        stripe_webhook_secrets=(SECRET,), deployment_id=DEPLOYMENT, database_pool_size=5,
    )  # fmt: skip
    app = create_app(settings=settings)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    for handler in logging.getLogger().handlers:  # the JSON logs are still formatted, not printed
        if hasattr(handler, "stream"):
            handler.stream = devnull  # type: ignore[attr-defined]
    client = app.test_client()
    stamp = int(time.time())
    _post_all(client, _signed(50, url, f"warm{stamp}"), "processed")
    signed = _signed(events, url, f"p{stamp}")
    before = resource.getrusage(resource.RUSAGE_SELF)
    _post_all(client, signed, "processed")
    user, system = _cpu_ms(before, events)
    print(
        f"{backend}: first delivery CPU {user + system:.2f} ms/event (user {user:.2f}, system {system:.2f})"
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    _post_all(client, signed, "processed")
    user, system = _cpu_ms(before, events)
    print(f"{backend}: duplicate delivery CPU {user + system:.2f} ms/event")
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(events):
        assert client.get("/livez").status_code == 200
    user, system = _cpu_ms(before, events)
    print(f"{backend}: GET /livez through the same client and hooks (the floor) {user + system:.2f} ms")
    # The effects, so a faster path that applies nothing cannot look like a win.
    with app.extensions["database"].sessionmaker() as db:
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
    shares: Counter[str] = Counter()
    total = 0
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            # Only the webhook posts: the floor's GET /livez runs outside _post_all.
            if "_post_all (bench/profile_webhook.py" not in stack or "full_dispatch_request" not in stack:
                continue
            total += int(count)
            for name in {w for w in WATCH if w in stack}:
                shares[name] += int(count)
    print(f"{total} samples of webhook requests (under full_dispatch_request)")
    for name in WATCH:
        print(f"{shares[name] * 100 / max(1, total):5.1f} %  {name.split(' (')[0]} ({name.split(' (')[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--summarise", metavar="PY_SPY_RAW_FILE")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
    else:
        measure(args.db, args.events)


if __name__ == "__main__":
    main()
