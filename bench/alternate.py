"""The API donation and its create-session baseline, measured in alternating rounds.

    .venv/bin/python -m bench.alternate                      # 5 rounds of 20 s each, PostgreSQL
    .venv/bin/python -m bench.alternate --rounds 3 --seconds 60
    .venv/bin/python -m bench.alternate --pair form          # the donate form (offer off) against the API

``bench.run`` measures the baseline once and the API once, one after the other. On this machine
(a virtual machine sharing its host) the CPU a request costs drifts from minute to minute: three
runs of ``bench.run --only baseline,api`` within ten minutes, on the same code, measured the API
at 2.21, 2.37 and 2.63 ms a request and the baseline at 2.09-2.20. One pair of runs cannot tell
a 5 % difference from that drift. Here both servers run side by side (the idle one costs
nothing), each warmed alike, and each round measures both back to back, in alternating order
(baseline first, then the API first) so that a drift within a round favours neither. It prints
every round and the median of the per-round ratios, which is what bench/README.md quotes.
Settings as bench.run's: gunicorn gevent 2 x 100, the sandbox at 300 ms, the production limits,
wrk with 256 connections. ``--pair form`` measures the donate form with the monthly offer off
(one request a donation, the API's twin) against the API the same way: issue 19 asks the form for
0.9x the API.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from sandbox.server import start_subprocess

from . import baseline_app
from .procs import ROOT, run_wrk, start_gunicorn
from .run import DEPLOYMENT, PORT, RESULTS, Recorder, forget_redis_keys, prepare_database, service_env

# Each pair: (what it is compared with, what is measured), as (name, app, wrk script, extra env).
PAIRS: dict[str, tuple[tuple[str, str, str, dict[str, str]], ...]] = {
    "api": (
        ("baseline create-session", "bench.baseline_app:app", "session.lua", {}),
        ("donation via API", "wsgi:app", "donation_api.lua", {}),
    ),
    "form": (
        ("donation via API", "wsgi:app", "donation_api.lua", {}),
        # One request a donation, as the API's: the monthly offer off (as bench.run's twin run).
        ("donation via form, no offer", "wsgi:app", "donate_form.lua", {"MONTHLY_OFFER": "off"}),
    ),
}
SCENARIOS = PAIRS["api"]


def ratios(
    rounds: list[dict[str, dict[str, Any]]], scenarios: tuple[tuple[Any, ...], ...] = SCENARIOS
) -> dict[str, float]:
    """The medians over rounds of the measured side's figures divided by the same round's other's."""
    measured, base = scenarios[1][0], scenarios[0][0]

    def median(key: str) -> float:
        return round(statistics.median(r[measured][key] / r[base][key] for r in rounds), 3)

    return {"throughput": median("rps"), "cpu": median("cpu_ms_per_request"), "p99": median("p99_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="api")
    args = parser.parse_args()
    os.chdir(ROOT)
    url = prepare_database("postgresql")
    baseline_app.create_table(url)
    sandbox = start_subprocess("--latency-ms", "300", "--quiet")
    rec = Recorder(sandbox.process.pid)
    servers = {}
    try:
        scenarios = PAIRS[args.pair]
        for offset, (name, app, script, extra) in enumerate(scenarios):
            servers[name] = start_gunicorn(app, service_env(url, sandbox.base_url, **extra), PORT + offset)
            run_wrk(servers[name].url, script, connections=args.connections, seconds=3)  # warm alike
        rounds: list[dict[str, dict[str, Any]]] = []
        for number in range(args.rounds):
            order = scenarios if number % 2 == 0 else scenarios[::-1]
            measured = {}
            for name, _app, script, _extra in order:
                server = servers[name]
                measured[name] = rec.wrk(name, "postgresql", server.url, script, server.pids,
                                         connections=args.connections, seconds=args.seconds,
                                         max_requests=args.max_requests)  # fmt: skip
            rounds.append(measured)
            print(f"round {number + 1}: {ratios([measured], scenarios)}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        sandbox.stop()
        forget_redis_keys(DEPLOYMENT)
    summary = ratios(rounds, scenarios)
    print(f"median of {len(rounds)} rounds ({scenarios[1][0]} / {scenarios[0][0]}): {summary}")
    RESULTS.parent.mkdir(exist_ok=True)  # bench/results/ is not in git: a fresh clone has none
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(previous + [{
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "alternate": summary, "pair": args.pair, "rows": rec.rows,
    }], indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
