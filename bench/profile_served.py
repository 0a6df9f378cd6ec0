"""Where a gunicorn worker's CPU goes under load: the API donation beside the plain integration.

    .venv/bin/python -m bench.profile_served                 # both, 20 s each, on port 5098
    .venv/bin/python -m bench.profile_served --only api

Starts the sandbox (300 ms) and gunicorn as ``bench.run`` does (production settings, Redis, the
production limits), warms it, then runs wrk for ``--seconds`` while ``py-spy record --gil`` samples
one worker for most of that time. Each sample is put in the first bucket below whose frame is on
its stack, and the shares are scaled to the run's service CPU per request (from /proc), so the
table reads in milliseconds of CPU per request (bench/README.md quotes it). py-spy slows the
sampled worker a little; the shares, not the run's throughput, are the result.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sandbox.server import start_subprocess

from .procs import ROOT, children, run_wrk, start_gunicorn
from .run import prepare_database, service_env

PORT = int(os.environ.get("BENCH_PROFILE_PORT", "5098"))
# (label, frames that put a sample in it): checked in order, the first that matches wins.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the Stripe call (stripe-python, HTTP, decoding)",
     ("create_checkout_session (service/stripe_gateway.py", "create (stripe/checkout/_session_service.py")),
    ("the row's INSERT, before Stripe", ("insert_donation (service/donations/writes.py",)),
    ("the session's UPDATE, after Stripe", ("record_checkout_session (service/donations/create.py",)),
    ("the donation limits (Redis)", ("take (service/rate_limits.py",)),
    ("the rest of create_donation", ("create_donation (service/donations/create.py",)),
    # The API's donations and the form's are answered in front of Flask (service/api/donation_fast_path.py,
    # service/pages/form_fast_path.py): their body's load, access line and own checks and answer
    # are put beside what they replace.
    ("validation (webargs, marshmallow load)",
     ("parse (webargs/core.py", "_loaded (service/api/donation_fast_path.py",
      "_loaded (service/pages/form_fast_path.py")),
    ("the view's request object and answer", ("wrapper (flask_smorest/response.py",)),
    ("request hooks (limits, access line, metrics)",
     ("preprocess_request (flask/app.py", "finalize_request (flask/app.py", "do_teardown_appcontext (flask/app.py",
      "write_access_line (service/http_hooks.py")),
    ("Flask (contexts, routing)", ("wsgi_app (flask/app.py",)),
    ("the donation fast path's checks and answer", ("answer (service/api/donation_fast_path.py",)),
    # The donate form's POST is answered in front of Flask too (service/pages/form_fast_path.py).
    ("the form fast path's checks and answer", ("answer (service/pages/form_fast_path.py",)),
    ("gunicorn and gevent", ("",)),
)  # fmt: skip
APPS = {
    "api": ("wsgi:app", "donation_api.lua"),
    "baseline": ("bench.baseline_app:app", "session.lua"),
    # The donate form with the monthly offer off: one request a donation, the API's twin.
    "form": ("wsgi:app", "donate_form.lua"),
}
EXTRA_ENV = {"form": {"MONTHLY_OFFER": "off"}}


def buckets(raw: Path) -> tuple[Counter[str], int]:
    """Samples per bucket in a py-spy ``--format raw`` file, and the total."""
    found: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        label = next(name for name, keys in BUCKETS if any(f.startswith(keys) for f in frames))
        found[label] += int(count)
    return found, total


def _py_spy(pid: int, raw: Path, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own venv's py-spy
        [str(ROOT / ".venv/bin/py-spy"), "record", "--gil", "-r", "200", "-f", "raw",
         "-d", str(max(1, seconds - 5)), "-o", str(raw), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def profile(name: str, seconds: int, sandbox: Any, url: str, *, sample_sandbox: bool = False) -> None:
    app, script = APPS[name]
    sandbox_url = sandbox.base_url
    server = start_gunicorn(app, service_env(url, sandbox_url, **EXTRA_ENV.get(name, {})), PORT)
    try:
        run_wrk(server.url, script, connections=256, seconds=3)  # warm the pools
        worker = children(server.proc.pid)[0]
        raw = Path(tempfile.gettempdir()) / f"profile-served-{name}.txt"
        spies = [_py_spy(worker, raw, seconds)]
        # The stand-in's own CPU is on the same cores (bench/README.md): its profile, if asked for.
        sandbox_raw = Path(tempfile.gettempdir()) / f"profile-served-{name}-sandbox.txt"
        if sample_sandbox:
            spies.append(_py_spy(sandbox.process.pid, sandbox_raw, seconds))
        result = run_wrk(
            server.url, script, connections=256, seconds=seconds, max_requests=0, measure=server.pids
        )
        for spy in spies:
            spy.wait(timeout=60)
    finally:
        server.stop()
    found, total = buckets(raw)
    cpu = result["cpu_ms_per_request"]
    print(f"{name}: {result['rps']} req/s, {cpu} ms of service CPU a request, {total} samples ({raw})")
    for label, _ in BUCKETS:
        print(
            f"  {label:48} {found[label] * 100 / max(1, total):5.1f} %  {found[label] / max(1, total) * cpu:5.2f} ms"
        )
    if sample_sandbox:
        print(f"  the sandbox's samples: {sandbox_raw}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="api,baseline")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--sandbox", action="store_true", help="also sample the Stripe sandbox's process")
    args = parser.parse_args()
    os.chdir(ROOT)
    url = prepare_database("postgresql", name=os.environ.get("BENCH_PROFILE_DATABASE", "bench_served"))
    sandbox = start_subprocess("--latency-ms", "300", "--quiet")
    try:
        for name in args.only.split(","):
            profile(name, args.seconds, sandbox, url, sample_sandbox=args.sandbox)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
