"""The benchmark driver: every scenario, on SQLite and PostgreSQL, with the baselines in the same run.

    .venv/bin/python -m bench.run                       # everything (about 10 minutes)
    .venv/bin/python -m bench.run --db postgresql --only api,form --seconds 60   # the 60 s sustain
    .venv/bin/python -m bench.run --only surge          # surge mode at 4x the call budget
    .venv/bin/python -m bench.run --only telethon       # 10,000 donors past every limit, card testers beside them
    .venv/bin/python -m bench.run --only finance        # bench/finance_reconciliation.py --reuse (1M payments)

Loopback only. The Stripe sandbox answers every call after 300 ms. Each wrk run is bounded by
``--seconds`` and ``--max-requests`` (hello and progress by ``--seconds`` only: they are compared
by rate, which a request cap would clip). Service CPU is read from /proc for the gunicorn master and
workers before and after each run; the sandbox's CPU is reported apart (it shares the 2 cores).
Results go to bench/results/latest.json; bench/README.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sandbox.server import start_subprocess
from service.appeals import SEED_FILE, load_file
from service.migrate import upgrade

from . import baseline_app, webhook_events
from .procs import ROOT, cpu_between, cpu_by_name, cpu_seconds, load_average, run_wrk, start_gunicorn

# Two runs at once (a helper's and the lead's) need their own: BENCH_DATABASE, BENCH_PORT.
DATABASE = os.environ.get("BENCH_DATABASE", "bench")
POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
SQLITE_DIR = Path(tempfile.gettempdir()) / "donation-router-bench"
SECRET = "whsec_bench_only_secret"  # noqa: S105 - a loopback benchmark's signing secret
PORT = int(os.environ.get("BENCH_PORT", "5099"))
REDIS_URL = "redis://127.0.0.1:6379/0"
# Its own Redis keys (limits, job queue) per run; deleted when the run ends.
DEPLOYMENT = f"bench-{os.getpid()}-{int(time.time())}"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SCENARIOS = ("baseline", "api", "form", "webhook", "progress", "surge", "telethon", "finance")


def prepare_database(backend: str, name: str = DATABASE) -> str:
    """An empty, migrated database holding the seeded appeal (never the test database)."""
    if name in ("test", "postgres"):
        raise ValueError(f"refusing to empty the {name!r} database")
    if backend == "sqlite":
        SQLITE_DIR.mkdir(exist_ok=True)
        path = SQLITE_DIR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            # Dropped and made again: a profiler at the same time as bench.run uses its own name.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    upgrade(url)
    engine = create_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as db, db.begin():
        load_file(db, SEED_FILE)
    engine.dispose()
    return url


def analyze(url: str) -> None:
    """Give PostgreSQL statistics for rows just bulk-loaded, as autovacuum would in a live database.

    Without them the generic plan of a prepared statement (psycopg prepares after five runs) picked
    ``ix_donations_status`` for ``UPDATE donations ... WHERE id = $1 AND status = $2`` and read all
    40,000 pending rows: 6-7 ms per statement instead of 0.15 ms, and webhooks at a fraction of their
    real rate (found 2026-12-06 with ``log_min_duration_statement`` and ``EXPLAIN ANALYZE``).
    """
    if not url.startswith("postgresql"):
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def service_env(database_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": sandbox_url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        # As in production: Redis holds the limits' counts and the job queue (emails are queued
        # for a worker, not sent by the web process), and the default donation limits apply to
        # the donors' addresses, which wrk sends as one trusted proxy would (lua/donors.lua).
        "REDIS_URL": REDIS_URL,
        "DEPLOYMENT_ID": DEPLOYMENT,
        "TRUSTED_PROXY_COUNT": "1",
        "STRIPE_CALL_BUDGET": "0",  # and so no service-wide donation rate either
        "DATABASE_POOL_SIZE": "25",  # a quarter of worker_connections (gunicorn.conf.py): transactions are short
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def forget_redis_keys(deployment: str) -> None:
    """The run's limit counts and queued jobs (no worker takes them in a benchmark)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"*{deployment}*",):
        for key in client.scan_iter(pattern, count=1000):
            client.delete(key)


# The local servers a scenario may use besides the service and the sandbox, by process name.
SHARED_SERVERS = {"postgres": ("postgres",), "redis": ("redis-server",)}


class Recorder:
    def __init__(self, sandbox_pid: int):
        self.rows: list[dict[str, Any]] = []
        self.sandbox_pid = sandbox_pid

    def wrk(self, name: str, backend: str, url: str, script: str, pids: list[int], **kwargs: Any) -> dict:
        sandbox_before = cpu_seconds([self.sandbox_pid])
        shared_before = {server: cpu_by_name(*comms) for server, comms in SHARED_SERVERS.items()}
        result = run_wrk(url, script, measure=pids, **kwargs)
        sandbox_cpu = cpu_seconds([self.sandbox_pid]) - sandbox_before
        requests = max(1, result["requests"])
        result.update(
            scenario=name, db=backend, sandbox_cpu_ms_per_request=round(sandbox_cpu * 1000 / requests, 3)
        )
        # What else the run cost on the same two cores: PostgreSQL's and Redis's CPU a request.
        for server, comms in SHARED_SERVERS.items():
            spent = cpu_between(shared_before[server], cpu_by_name(*comms))
            result[f"{server}_cpu_ms_per_request"] = round(spent * 1000 / requests, 3)
        self.rows.append(result)
        print(
            f"{backend:10} {name:28} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f}  "
            f"p95 {result['p95_ms']:7.1f}  p99 {result['p99_ms']:7.1f} ms  errors {result['errors']:5}  "
            f"cpu {result['cpu_ms_per_request']:.2f} ms/req  load {result['load_before']}  "
            f"(also a request: sandbox {result['sandbox_cpu_ms_per_request']:.2f}, PostgreSQL "
            f"{result['postgres_cpu_ms_per_request']:.2f}, Redis {result['redis_cpu_ms_per_request']:.2f} ms)",
            flush=True,
        )
        if "donations" in result:
            print(
                f"{'':10} {'':28} {result['donations_per_s']:8.1f} donations/s  "
                f"cpu {result['cpu_ms_per_donation']:.2f} ms/donation  lost {result['lost']}",
                flush=True,
            )
        return result


def run_backend(backend: str, only: set[str], args: argparse.Namespace, sandbox: Any, rec: Recorder) -> None:
    url = prepare_database(backend)
    seconds, cap = args.seconds, args.max_requests
    # SQLite's workers are threads (2 x 16): more connections than threads only queue, and the
    # queue would still be draining into the next scenario.
    connections = args.connections if backend == "postgresql" else 32
    if "baseline" in only:
        if backend == "postgresql":
            baseline_app.create_table(url)
        base = start_gunicorn("bench.baseline_app:app", service_env(url, sandbox.base_url), PORT)
        try:
            # hello and progress are bounded by time only: at 5,000/s a 20 s run reached the
            # 100,000-request cap and hello's rate read as the cap's (cap / seconds), not its own.
            rec.wrk("baseline hello", backend, base.url, "hello.lua", base.pids,
                    connections=48, seconds=seconds, max_requests=0)  # fmt: skip
            rec.wrk("baseline create-session", backend, base.url, "session.lua", base.pids,
                    connections=connections, seconds=seconds, max_requests=cap)  # fmt: skip
            if backend == "postgresql" and "webhook" in only:
                count = min(cap, args.webhook_events)
                events_file = SQLITE_DIR / "events-baseline.txt"
                SQLITE_DIR.mkdir(exist_ok=True)
                ids = [f"don_base{int(time.time())}{i:012d}" for i in range(count)]
                webhook_events.write_events(events_file, ids, SECRET, DEPLOYMENT)
                rec.wrk("baseline webhook", backend, base.url, "webhook.lua", base.pids,
                        connections=args.webhook_connections, seconds=seconds, max_requests=count,
                        extra_env={"BENCH_EVENTS_FILE": str(events_file)})  # fmt: skip
        finally:
            base.stop()
    svc = start_gunicorn("wsgi:app", service_env(url, sandbox.base_url), PORT)
    try:
        if "api" in only or "form" in only:
            run_wrk(svc.url, "donation_api.lua", connections=connections, seconds=3)  # warm the pools
        if "api" in only:
            rec.wrk("donation via API", backend, svc.url, "donation_api.lua", svc.pids,
                    connections=connections, seconds=seconds, max_requests=cap)  # fmt: skip
        if "form" in only:
            # A one-off form donation meets the monthly offer first (the default since issue 14):
            # three requests per donation, compared with the API by donations a second.
            rec.wrk("donation via form + offer", backend, svc.url, "donate_form_offer.lua", svc.pids,
                    connections=connections, seconds=seconds, max_requests=cap)  # fmt: skip
        if "progress" in only:
            rec.wrk("progress (cached)", backend, svc.url, "progress.lua", svc.pids,
                    connections=48, seconds=seconds, max_requests=0)  # fmt: skip
        if "webhook" in only:
            run_webhooks(rec, backend, url, sandbox.base_url, svc, args)
    finally:
        svc.stop()
    if "form" in only:
        # The same form with the monthly offer turned off (MONTHLY_OFFER=off): one request, the
        # API's twin, so the two compare request for request.
        plain = start_gunicorn("wsgi:app", service_env(url, sandbox.base_url, MONTHLY_OFFER="off"), PORT)
        try:
            # Warmed as the API's gunicorn is: a cold first run cost 3.97 ms a request against
            # 3.24-3.40 ms warm (pools, caches, the offer-off page's first render).
            run_wrk(plain.url, "donate_form.lua", connections=connections, seconds=3)
            rec.wrk("donation via form, no offer", backend, plain.url, "donate_form.lua", plain.pids,
                    connections=connections, seconds=seconds, max_requests=cap)  # fmt: skip
        finally:
            plain.stop()


def run_webhooks(
    rec: Recorder, backend: str, url: str, sandbox_url: str, svc: Any, args: argparse.Namespace
) -> None:
    """The endpoint stores and acknowledges; the worker (a Redis queue, as in production) applies.

    Twice, each with fresh pending donations: first with no worker during wrk (the endpoint alone,
    then the worker started to drain the backlog, timed from its first applied event), then with the
    worker running during wrk (it shares the two cores), draining what is left after. Each run
    checks every event was applied and each donation ended paid with one payment.
    """
    count = min(args.max_requests, args.webhook_events)
    env = service_env(url, sandbox_url)
    SQLITE_DIR.mkdir(exist_ok=True)
    for name, worker_during in (("webhook completed", False), ("webhook completed, worker running", True)):
        prefix = f"w{int(time.time())}{'r' if worker_during else 'q'}"
        ids = webhook_events.create_pending_donations(url, count, prefix=prefix)
        analyze(url)
        events_file = SQLITE_DIR / f"events-{backend}.txt"
        webhook_events.write_events(events_file, ids, SECRET, DEPLOYMENT)
        worker = webhook_events.start_worker(env, args.webhook_worker_threads) if worker_during else None
        if worker is not None:
            time.sleep(4)  # booted (it builds the app) before wrk starts
        worker_cpu = cpu_seconds([worker.pid]) if worker else 0.0
        result = rec.wrk(name, backend, svc.url, "webhook.lua", svc.pids,
                         connections=args.webhook_connections, seconds=args.seconds, max_requests=count,
                         extra_env={"BENCH_EVENTS_FILE": str(events_file)})  # fmt: skip
        if worker is not None:
            result["worker_cpu_ms_per_request_during_wrk"] = round(
                (cpu_seconds([worker.pid]) - worker_cpu) * 1000 / max(1, result["requests"]), 3
            )
        else:
            worker = webhook_events.start_worker(env, args.webhook_worker_threads)
        try:
            result["drain"] = webhook_events.wait_for_drain(url, prefix, worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        result["effects"] = webhook_events.check_effects(url, prefix)
        print(f"{'':10} {'':28} drain {json.dumps(result['drain'])}", flush=True)
        print(f"{'':10} {'':28} effects {json.dumps(result['effects'])}", flush=True)


def run_finance(rec: Recorder) -> None:
    """The finance helper's benchmark, timing its existing million-payment ledger again.

    The ledger is generated once (about 4 minutes) with
    ``python -m bench.finance_reconciliation --payments 1000000``; see bench/README.md.
    """
    started, load = time.monotonic(), load_average()
    out = subprocess.run(
        [sys.executable, "-m", "bench.finance_reconciliation", "--reuse"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    rec.rows.append({"scenario": "finance 1M payments", "db": "postgresql", "load_before": load,
                     "wall_s": round(time.monotonic() - started, 1), "output": out.stdout[-3000:],
                     "stderr": out.stderr[-1000:]})  # fmt: skip
    print(out.stdout[-3000:], out.stderr[-1000:], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--webhook-events", type=int, default=40_000)
    parser.add_argument("--webhook-connections", type=int, default=32)
    parser.add_argument(
        "--webhook-worker-threads", type=int, default=2, help="the job worker's threads (the Procfile: 2)"
    )
    parser.add_argument("--surge-budget", type=int, default=8, help="Stripe calls a second (sandbox: 1.25x)")
    parser.add_argument("--telethon-seconds", type=int, default=60)
    parser.add_argument("--telethon-connections", type=int, default=512)
    parser.add_argument(
        "--telethon-budget", type=int, default=25, help="STRIPE_CALL_BUDGET (the sandbox: 25)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    only = set(args.only.split(","))
    os.chdir(ROOT)
    sandbox = start_subprocess("--latency-ms", "300", "--quiet")
    rec = Recorder(sandbox.process.pid)
    try:
        for backend in args.db.split(","):
            if only & {"baseline", "api", "form", "webhook", "progress"}:
                run_backend(backend, only, args, sandbox, rec)
    finally:
        sandbox.stop()
        forget_redis_keys(DEPLOYMENT)
    if "surge" in only:
        from .surge import run_surge

        rec.rows.append(run_surge(prepare_database("postgresql"), args.seconds, args.surge_budget))
    if "telethon" in only:
        from .telethon import run_telethon

        rec.rows.append(
            run_telethon(
                prepare_database("postgresql"),
                args.telethon_seconds,
                args.telethon_connections,
                args.telethon_budget,
            )
        )
    if "finance" in only:
        run_finance(rec)
    args.out.parent.mkdir(exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else []
    args.out.write_text(json.dumps(previous + [{"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                 "rows": rec.rows}], indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
