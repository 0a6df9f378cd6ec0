"""A telethon peak: 10,000 donors past every limit of ours, card testers beside them.

    .venv/bin/python -m bench.run --only telethon                       # 60 s, 512 connections
    .venv/bin/python -m bench.run --only telethon --telethon-seconds 20 # a shorter look

Production settings except where stated: the service runs behind one trusted proxy
(``TRUSTED_PROXY_COUNT=1``) with the default donation limits (10 a minute per address, 300 a
minute per /24, a service rate of 3,000 a minute past which donors go to the Payment Link),
Redis for the counts and the Stripe call budget, ``STRIPE_CALL_BUDGET=25`` and the sandbox
enforcing Stripe's 25 requests a second (a 429 past it) with 300 ms of latency. Payment Links
are made first with ``flask surge payment-links create``.

Three wrk runs at once, through the proxy's ``X-Forwarded-For``:

* donors (``lua/donation_api.lua``): 10,000 addresses, each in its own /24, taken in turn, with more
  connections than the machine can serve at once;
* a card tester at one address (``lua/card_testing.lua``), 4 connections, one attempt every
  100 ms on each (40 a second);
* a card tester spread over 500 addresses in two /24s, 8 connections (80 a second).

Reported: donor-facing errors (anything but a 201, socket errors included) and refusals by our
limits among the donors (must both be 0); what the card testers got through and what was
refused; Stripe calls per second as the sandbox saw them (per calendar second and in any sliding
second; must stay within the budget) and its 429s; donations by status; and a sample of
redirected and normal donations paid in the sandbox, whose webhooks must attribute each payment
to its own donation with no event quarantined.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from sandbox.control_client import SandboxControl
from service.donations.models import Donation

from .procs import (
    ROOT,
    busiest_second,
    calls_per_second,
    run_wrk,
    start_gunicorn,
    stripe_arrivals,
    wait_until_idle,
)
from .surge import _pay_sample, _start_sandbox

STRIPE_LIMIT = 25  # the sandbox's, as Stripe's default per endpoint
BUDGET = 25


def _donor_outcome(result: dict[str, Any]) -> dict[str, Any]:
    sockets = sum(result[k] for k in ("connect", "read", "write", "timeout"))
    return {
        "requests": result["requests"],
        "rps": result["rps"],
        "refused_by_our_limits": result["refused_429"],
        "donor_facing_errors": result["http_errors"] - result["refused_429"] + sockets,
        "p50_ms": result["p50_ms"], "p95_ms": result["p95_ms"], "p99_ms": result["p99_ms"],
    }  # fmt: skip


def run_telethon(
    database_url: str, seconds: int = 60, connections: int = 512, budget: int = BUDGET
) -> dict[str, Any]:
    from .run import PORT, SECRET, SQLITE_DIR, forget_redis_keys, service_env

    SQLITE_DIR.mkdir(exist_ok=True)
    service_url = f"http://127.0.0.1:{PORT}"
    sandbox_log = SQLITE_DIR / "telethon-sandbox.log"
    sandbox_proc, sandbox_url = _start_sandbox(
        sandbox_log, "--latency-ms", "300", "--rate-limit", str(STRIPE_LIMIT),
        "--webhook-url", f"{service_url}/webhooks/stripe", "--webhook-secret", SECRET,
    )  # fmt: skip
    sandbox = SandboxControl(sandbox_url)
    deployment = f"bench-telethon-{os.getpid()}-{int(time.time())}"
    env = service_env(
        database_url, sandbox_url, STRIPE_CALL_BUDGET=str(budget), SURGE_WAIT_SECONDS="2", DEPLOYMENT_ID=deployment,
    )  # fmt: skip
    try:
        subprocess.run(
            [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "surge", "payment-links", "create"],
            cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
        )  # fmt: skip
        svc = start_gunicorn("wsgi:app", env, PORT, log_file=SQLITE_DIR / "telethon-service.log")
        try:
            with ThreadPoolExecutor(3) as pool:
                donors = pool.submit(
                    run_wrk, svc.url, "donation_api.lua", connections=connections, seconds=seconds,
                    measure=svc.pids, extra_env={"BENCH_DONORS": "10000", "BENCH_UTM_SOURCE": "telethon"},
                )  # fmt: skip
                time.sleep(1)  # wrk's own start; the testers join the donors under way
                one = pool.submit(
                    run_wrk, svc.url, "card_testing.lua", connections=4, seconds=seconds - 2,
                    extra_env={"BENCH_ADDRESSES": "1", "BENCH_DELAY_MS": "100"},
                )  # fmt: skip
                spread = pool.submit(
                    run_wrk, svc.url, "card_testing.lua", connections=8, seconds=seconds - 2,
                    extra_env={"BENCH_ADDRESSES": "500", "BENCH_DELAY_MS": "100"},
                )  # fmt: skip
                result, one_result, spread_result = donors.result(), one.result(), spread.result()
            wait_until_idle(svc.url)
            time.sleep(3)  # donors still waiting for budget when wrk stopped finish first
            arrivals, outcomes = stripe_arrivals(sandbox_log)
            engine = create_engine(database_url)
            with Session(engine) as db:
                statuses = Counter(
                    dict(db.execute(select(Donation.status, func.count()).group_by(Donation.status)).all())
                )
                by_source = dict(
                    db.execute(select(Donation.utm_source, func.count()).group_by(Donation.utm_source)).all()
                )
            engine.dispose()
            attribution = _pay_sample(database_url, sandbox, env)
        finally:
            svc.stop()
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=10)
        forget_redis_keys(deployment)
    per_calendar_second, per_sliding_second = busiest_second(arrivals)
    span = (arrivals[-1] - arrivals[0]).total_seconds() if len(arrivals) > 1 else 0
    row = {
        **result,
        "scenario": "telethon", "db": "postgresql", "budget_per_second": budget,
        "sandbox_limit_per_second": STRIPE_LIMIT,
        "donors": _donor_outcome(result),
        "card_tester_one_address": {"attempts": one_result["requests"], "refused": one_result["refused_429"],
                                    "let_through": one_result["requests"] - one_result["http_errors"]},
        "card_tester_500_addresses": {"attempts": spread_result["requests"], "refused": spread_result["refused_429"],
                                      "let_through": spread_result["requests"] - spread_result["http_errors"]},
        "stripe_calls": len(arrivals), "stripe_calls_mean_per_second": round(len(arrivals) / span, 1) if span else 0,
        "max_stripe_calls_in_a_calendar_second": per_calendar_second,
        "max_stripe_calls_in_any_sliding_second": per_sliding_second,
        "calendar_seconds_over_budget": sum(1 for n in calls_per_second(arrivals).values() if n > budget),
        "sandbox_statuses": dict(outcomes), "donation_statuses": dict(statuses),
        "donations_by_utm_source": {str(k): v for k, v in by_source.items()},
        **attribution,
    }  # fmt: skip
    print(json.dumps(row, indent=1, default=str), flush=True)
    return row
