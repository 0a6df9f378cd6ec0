"""CPU time per donation inside one process, without gunicorn or the network noise of a load test.

    .venv/bin/python -m bench.profile_donation --db postgresql --donations 400
    .venv/bin/py-spy record --gil -r 500 -f raw -o /tmp/donation.txt -- \\
        .venv/bin/python -m bench.profile_donation --db postgresql --donations 400
    .venv/bin/python -m bench.profile_donation --summarise /tmp/donation.txt

Creates donations through the Flask test client against the sandbox (no latency) and reports
the process's user and system CPU per donation and per cached progress read. Under
``py-spy --gil`` only samples holding the GIL count, which approximates Python CPU time;
``--summarise`` prints the share of those samples spent under the functions that matter.
"""

from __future__ import annotations

import itertools
import os
import resource

from sandbox.server import start_subprocess
from service import create_app
from service.settings import Settings

from . import profiling
from .run import prepare_database

ROUNDS = 4
FORM = "/donate/red-cross-ukraine"
_tokens = itertools.count()


def form_body() -> dict[str, str]:
    # As bench/lua/donate_form.lua: a fresh form_token (the form's idempotency key) per donation.
    token = f"profile{os.getpid():08d}{next(_tokens):010d}"
    return {"form_token": token, "currency": "gbp", "frequency": "one_off", "amount_choice": "2500"}


PROGRESS = "/api/v1/appeals/red-cross-ukraine/progress"
BODY = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off"}
WATCH = (
    "create_donation (service/donations/create.py", "ensure_checkout_session (service/donations/create.py",
    "record_checkout_session (service/donations/create.py", "find (service/appeal_cache.py",
    "_call (service/stripe_gateway.py", "_refresh_from (stripe/_stripe_object.py",
    "_execute_internal (sqlalchemy/orm/session.py", "commit (sqlalchemy/orm/session.py",
    "flush (sqlalchemy/orm/session.py", "do_ping (sqlalchemy/dialects/postgresql/_psycopg_common.py",
    "wrapper (webargs/core.py", "emit (logging/__init__.py", "process_response (flask/app.py",
)  # fmt: skip


def measure(backend: str, donations: int) -> None:
    # Its own database, so a bench.run (which uses `bench`) at the same time is unharmed;
    # BENCH_PROFILE_DATABASE names another, so that two profilers never share one.
    url = prepare_database(backend, name=os.environ.get("BENCH_PROFILE_DATABASE", "bench_donation"))
    sandbox = start_subprocess("--quiet")
    settings = Settings(
        environment="development", database_url=url, stripe_api_base=sandbox.base_url,
        rate_limit_donations="10000000/minute", rate_limit_donations_network="10000000/minute",
        stripe_call_budget=0, database_pool_size=5,
        # The form as the API's twin (bench.run's "form, no offer"): one request, one Checkout
        # Session. With the offer on, a one-off gift's first request only writes the row.
        monthly_offer=False,
    )  # fmt: skip
    try:
        app = create_app(settings=settings)
        profiling.quiet_logs()
        client = app.test_client()
        for _ in range(20):
            client.post("/api/v1/donations", json=BODY)
        # Several rounds, best reported: on a shared machine other processes only ever add time.
        for label, send in (
            ("donation", lambda: client.post("/api/v1/donations", json=BODY).status_code == 201),
            ("form donation, no offer", lambda: client.post(FORM, data=form_body()).status_code == 303),
            ("cached progress", lambda: client.get(PROGRESS).status_code == 200),
        ):
            rounds = []
            for _ in range(ROUNDS):
                before = resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(donations // ROUNDS):
                    assert send()
                rounds.append(profiling.cpu_ms(before, donations // ROUNDS))
            user, system = min(rounds, key=sum)
            spread = ", ".join(f"{sum(r):.2f}" for r in rounds)
            print(
                f"{backend}: {label} CPU {user + system:.2f} ms (user {user:.2f}, system {system:.2f}; rounds {spread})"
            )
    finally:
        sandbox.stop()


def summarise(path: str) -> None:
    profiling.summarise(path, WATCH, lambda stack: "create_donation" in stack)


if __name__ == "__main__":
    profiling.main(__doc__ or "", "donations", 400, measure, summarise)
