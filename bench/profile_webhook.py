"""CPU time per webhook event inside one process, without gunicorn or the network noise of a load test.

    .venv/bin/python -m bench.profile_webhook --db postgresql --events 2000
    .venv/bin/py-spy record --gil -r 500 -f raw -o /tmp/webhook.txt -- \\
        .venv/bin/python -m bench.profile_webhook --db postgresql --events 2000
    .venv/bin/python -m bench.profile_webhook --summarise /tmp/webhook.txt

Creates pending donations in a fresh database (``bench_webhook``, or ``BENCH_PROFILE_DATABASE``
so that two profilers never share one; the same rows and signed ``checkout.session.completed``
events as ``bench/run.py``'s webhook scenario) and measures the two halves apart, as production
runs them (jobs on a Redis queue):

* the endpoint: each event posted once through the Flask test client (verify, store as
  ``received``, hand the id to the Redis queue, answer), in rounds interleaved with the same
  events posted to the minimal endpoint issue 19 compares it with (``bench/baseline_app.py``'s
  ``POST /webhooks/stripe`` through its own test client, on the same database): the best round
  of each and their ratio, from the same run;
* the apply: the queued ``apply_event`` jobs taken from Redis and run as the worker runs them
  (``huey.dequeue`` + ``huey.execute``: claim, apply, record, then the waiting events' check);

then the same events posted again (duplicate deliveries of applied events), and ``GET /livez``
(Flask's floor: the test client, Flask and the request hooks with no work in the view; deliveries
are answered in front of Flask, service/ledger/fast_path.py, so they can cost less). It reports
the process's user and system CPU per event for each (for the endpoint and the baseline the best
of ``ROUNDS`` rounds: other processes on a shared machine only ever add to it). Under
``py-spy --gil`` only samples holding the GIL count, which approximates Python CPU time;
``--summarise`` prints the share of those samples spent under the functions that matter, for the
endpoint and for the apply.
"""

from __future__ import annotations

import json
import os
import resource
import time

from sqlalchemy import create_engine, func, select

from service import create_app, extensions
from service.donations.models import Donation, DonationStatus
from service.models import Payment, WebhookEvent
from service.settings import Settings

from . import baseline_app, profiling, webhook_events
from .run import REDIS_URL, forget_redis_keys, prepare_database

ROUNDS = 4
SECRET = "whsec_profile_only_secret"  # noqa: S105 - a local profile's signing secret
DEPLOYMENT = f"profile-webhook-{os.getpid()}"
ROOT = "stripe_webhook (service/ledger/views.py"
FAST_PATH = "answer (service/ledger/fast_path.py"
WATCH = (
    ROOT, FAST_PATH, "verify_signature (service/ledger/signature.py", "receive (service/ledger/receiving.py",
    "_hand_over_safely (service/ledger/receiving.py", "enqueue (huey/api.py",
    "apply_stored (service/ledger/receiving.py", "process_event (service/ledger/receiving.py",
    "apply_waiting (service/ledger/receiving.py", "dequeue (huey/api.py",
    "apply_session (service/ledger/apply_checkout.py", "record_session (service/donations/states.py",
    "lock_donation_for_session (service/donations/states.py", "upsert_payment (service/ledger/payments.py",
    "_record (service/ledger/receiving.py", "_execute_internal (sqlalchemy/orm/session.py",
    "commit (sqlalchemy/orm/session.py", "_connection_for_bind (sqlalchemy/orm/session.py",
    "close (sqlalchemy/orm/session.py", "do_ping (sqlalchemy/dialects/postgresql/_psycopg_common.py",
    "execute (psycopg/cursor.py", "emit (logging/__init__.py", "webhook_delivery (service/metrics.py",
    "_count_request (service/metrics.py", "_finish (service/http_hooks.py",
    "jsonify (flask/json/__init__.py", "full_dispatch_request (flask/app.py",
    "run_alone (service/db.py", "write_access_line (service/http_hooks.py",
)  # fmt: skip


def _signed(events: int, url: str, prefix: str) -> list[tuple[str, str]]:
    ids = webhook_events.create_pending_donations(url, events, prefix=prefix)
    lines = [webhook_events.signed_line(SECRET, webhook_events.completed_event(i, DEPLOYMENT)) for i in ids]
    return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]


def _post_all(client, events: list[tuple[str, str]], expect: str | None) -> None:  # type: ignore[no-untyped-def]
    """Post each event once; ``expect`` is the outcome the service answers (None: the baseline,
    which answers an empty 200)."""
    for signature, body in events:
        response = client.post(
            "/webhooks/stripe", data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code == 200, response.get_data(as_text=True)
        if expect is not None:
            assert response.get_json()["outcome"] == expect, response.get_json()


def _baseline_client(url: str):  # type: ignore[no-untyped-def]
    """bench/baseline_app.py's test client on ``url``, with this run's secret and the service's
    pool size. The module reads both from the environment when first imported (bench/run.py
    imports it before this runs), so they are set on it here."""
    baseline_app._WEBHOOK_SECRET = SECRET  # noqa: SLF001
    baseline_app._engine = create_engine(url, pool_size=5, max_overflow=0)  # noqa: SLF001
    baseline_app.create_table(url)
    return baseline_app.app.test_client()


def _cpu(rounds: list[tuple[float, float]]) -> str:
    user, system = min(rounds, key=sum)
    spread = ", ".join(f"{sum(r):.3f}" for r in rounds)
    return f"{user + system:.3f} ms/event (user {user:.3f}, system {system:.3f}; rounds {spread})"


def _apply_queued(app, expected: int) -> int:  # type: ignore[no-untyped-def]
    """Run the queued apply_event jobs as the worker does; other jobs (receipts) are left queued."""
    from service.jobs import huey

    applied = 0
    with app.app_context():
        while applied < expected:
            task = huey.dequeue()
            if task is None:
                break
            if task.name == "apply_event":
                huey.execute(task)
                applied += 1
    return applied


def measure(backend: str, events: int) -> None:
    url = prepare_database(backend, name=os.environ.get("BENCH_PROFILE_DATABASE", "bench_webhook"))
    settings = Settings(
        environment="development", database_url=url, stripe_api_base="http://127.0.0.1:9",
        stripe_webhook_secrets=(SECRET,), deployment_id=DEPLOYMENT, database_pool_size=5,
        # As in production: a receipt email is queued in Redis for the worker, not sent here.
        redis_url=REDIS_URL, jobs_in_process=False,
    )  # fmt: skip
    app = create_app(settings=settings)
    profiling.quiet_logs()
    client = app.test_client()
    stamp = int(time.time())
    _post_all(client, _signed(50, url, f"warm{stamp}"), "received")
    _apply_queued(app, 50)
    baseline = _baseline_client(url) if backend == "postgresql" else None
    if baseline is not None:
        _post_all(baseline, _signed(50, url, f"bwarm{stamp}"), None)
    signed = _signed(events, url, f"p{stamp}")
    chunk = events // ROUNDS
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for start in range(0, chunk * ROUNDS, chunk):
        before = resource.getrusage(resource.RUSAGE_SELF)
        _post_all(client, signed[start : start + chunk], "received")
        ours.append(profiling.cpu_ms(before, chunk))
        if baseline is not None:
            before = resource.getrusage(resource.RUSAGE_SELF)
            _post_all(baseline, signed[start : start + chunk], None)
            theirs.append(profiling.cpu_ms(before, chunk))
    _post_all(client, signed[chunk * ROUNDS :], "received")  # the remainder, unmeasured
    print(f"{backend}: endpoint (store, hand over, answer) CPU {_cpu(ours)}")
    if theirs:
        ratio = min(map(sum, theirs)) / min(map(sum, ours))
        print(f"{backend}: baseline endpoint (verify, insert one row) CPU {_cpu(theirs)}")
        print(f"{backend}: the endpoint's CPU {1 / ratio:.3f}x the baseline's (throughput ~{ratio:.3f}x)")
    before = resource.getrusage(resource.RUSAGE_SELF)
    applied = _apply_queued(app, events)
    user, system = profiling.cpu_ms(before, events)
    print(f"{backend}: apply job (the worker's half) CPU {user + system:.2f} ms/event ({applied} applied)")
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
    forget_redis_keys(DEPLOYMENT)
    assert paid == payments == events and deliveries == 2 * events


def summarise(path: str) -> None:
    # The endpoint's posts (the floor's GET /livez runs outside _post_all), answered in front of
    # Flask (service/ledger/fast_path.py) or by Flask; then the apply jobs.
    total = profiling.summarise(
        path,
        WATCH,
        lambda stack: (
            "_post_all (bench/profile_webhook.py" in stack
            and (FAST_PATH in stack or "full_dispatch_request" in stack)
            and "(service/" in stack  # not the baseline app's requests
        ),
    )
    print(f"{total} samples of webhook requests (under the fast path or full_dispatch_request)\n")
    total = profiling.summarise(path, WATCH, lambda stack: "_apply_queued (bench/profile_webhook.py" in stack)
    print(f"{total} samples of apply jobs (under _apply_queued)")


if __name__ == "__main__":
    profiling.main(__doc__ or "", "events", 2000, measure, summarise)
