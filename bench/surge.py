"""Surge mode under load: donations at several times the Stripe call budget, then attribution.

The sandbox enforces a Stripe-like limit and the service's shared budget is 80 % of it, in Redis
across both workers: by default 8 and 10 a second (Stripe's are 20 and 25; the ratio is what
matters, and a 2-core machine running the sandbox too cannot offer 4 x 20 donations a second
while other work shares it). wrk offers several times the budget. Then:

* donor-facing errors: every answer must be 201 (a Checkout Session or the Payment Link);
* Stripe calls per second, by the second each reached the sandbox (from its request log), must
  never exceed the budget, and the sandbox must have answered no 429;
* a sample of redirected and of normal donations is paid in the sandbox, which delivers the
  signed webhooks; each payment must land on its own donation.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from sandbox.control_client import SandboxControl
from service.donations.models import Donation, DonationStatus
from service.models import WebhookEvent, WebhookOutcome

from .procs import (
    ROOT,
    busiest_second,
    calls_per_second,
    run_wrk,
    start_gunicorn,
    stripe_arrivals,
    wait_until_idle,
)
from .webhook_events import start_worker

SAMPLE = 25
# A fixed port, so the sandbox's Payment Link and Checkout URLs stay the same (a second run at the
# same time sets another: BENCH_SANDBOX_PORT).
SANDBOX_PORT = int(os.environ.get("BENCH_SANDBOX_PORT", "12155"))


def _start_sandbox(log_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """The sandbox with its request log kept (start_subprocess discards it)."""
    port = SANDBOX_PORT
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), *args],
        cwd=ROOT, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    SandboxControl(url).wait_until_ready(timeout=60)
    return proc, url


def _pay_sample(database_url: str, sandbox: Any, env: dict[str, str]) -> dict[str, Any]:
    """Pay a sample of redirected and of normal donations in the sandbox; each payment must land
    on its own donation once the job worker (the Procfile's, on the run's queue) has applied the
    delivered webhooks, as in production (docs/webhooks.md: store and acknowledge, apply later)."""
    worker = start_worker(env)
    try:
        return _pay_and_check(database_url, sandbox)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _applied(engine: Any, timeout: float = 120.0) -> None:
    """Wait until no stored event is left for the worker to apply (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.scalar(select(func.count()).where(WebhookEvent.outcome == WebhookOutcome.RECEIVED))
        if not left:
            return
        time.sleep(0.5)


def _pay_and_check(database_url: str, sandbox: Any) -> dict[str, Any]:
    engine = create_engine(database_url)
    paid: dict[str, str] = {}
    with Session(engine) as db:
        for status in (DonationStatus.SURGE_REDIRECTED, DonationStatus.PENDING):
            rows = db.scalars(select(Donation).where(Donation.status == status).limit(SAMPLE)).all()
            for donation in rows:
                if status == DonationStatus.PENDING:
                    session_id = donation.stripe_checkout_session_id
                else:
                    visit = requests.get(donation.checkout_url, allow_redirects=False, timeout=10)
                    session_id = visit.headers["Location"].rsplit("/", 1)[-1]
                sandbox.complete_session(session_id, outcome="paid")
                paid[donation.id] = session_id
    sandbox.wait_for_webhooks(timeout=120)
    _applied(engine)
    with Session(engine) as db:
        wrong = []
        for donation_id, session_id in paid.items():
            donation = db.get(Donation, donation_id)
            if donation.status != DonationStatus.PAID or donation.stripe_checkout_session_id != session_id:
                wrong.append((donation_id, donation.status))
        quarantined = db.scalars(
            select(WebhookEvent.outcome_reason).where(WebhookEvent.outcome == WebhookOutcome.QUARANTINED)
        ).all()
    engine.dispose()
    return {"paid_sample": len(paid), "misattributed": wrong, "quarantined_events": list(quarantined)}


def run_surge(database_url: str, seconds: int, budget: int = 8) -> dict[str, Any]:
    from .run import PORT, SECRET, SQLITE_DIR, forget_redis_keys, service_env

    SQLITE_DIR.mkdir(exist_ok=True)
    service_url = f"http://127.0.0.1:{PORT}"
    sandbox_log = SQLITE_DIR / "surge-sandbox.log"
    sandbox_proc, sandbox_url = _start_sandbox(
        sandbox_log, "--latency-ms", "300", "--rate-limit", str(math.ceil(budget * 1.25)),
        "--webhook-url", f"{service_url}/webhooks/stripe", "--webhook-secret", SECRET,
    )  # fmt: skip
    sandbox = SandboxControl(sandbox_url)
    deployment = f"bench-surge-{os.getpid()}-{int(time.time())}"
    env = service_env(
        database_url, sandbox_url, STRIPE_CALL_BUDGET=str(budget),
        SURGE_WAIT_SECONDS="2", DEPLOYMENT_ID=deployment,
    )  # fmt: skip
    log_path = SQLITE_DIR / "surge-service.log"
    try:
        subprocess.run(
            [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "surge", "payment-links", "create"],
            cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
        )  # fmt: skip
        svc = start_gunicorn("wsgi:app", env, PORT, log_file=log_path)
        try:
            result = run_wrk(svc.url, "donation_api.lua", connections=256, seconds=seconds, measure=svc.pids)
            wait_until_idle(svc.url)
            time.sleep(3)  # donors still waiting for budget when wrk stopped finish first
            arrivals, outcomes = stripe_arrivals(sandbox_log)
            engine = create_engine(database_url)
            with Session(engine) as db:
                statuses = Counter(db.scalars(select(Donation.status)).all())
            engine.dispose()
            attribution = _pay_sample(database_url, sandbox, env)
        finally:
            svc.stop()
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=10)
        forget_redis_keys(deployment)
    per_calendar_second, per_sliding_second = busiest_second(arrivals)
    result.update(
        scenario="surge above the budget", db="postgresql", budget_per_second=budget,
        offered_over_budget=round(result["rps"] / budget, 1),
        max_stripe_calls_in_a_calendar_second=per_calendar_second,
        max_stripe_calls_in_any_sliding_second=per_sliding_second,
        sandbox_statuses=dict(outcomes), stripe_calls_per_second=dict(sorted(calls_per_second(arrivals).items())),
        donation_statuses=dict(statuses), **attribution,
    )  # fmt: skip
    print(json.dumps(result, indent=1, default=str), flush=True)
    return result
