"""CPU time per donation inside one process, without gunicorn or the network noise of a load test.

    .venv/bin/python -m bench.profile_donation --db postgresql --donations 400
    .venv/bin/py-spy record --gil -r 500 -f raw -o /tmp/donation.txt -- \\
        .venv/bin/python -m bench.profile_donation --db postgresql --donations 400
    .venv/bin/python -m bench.profile_donation --summarise /tmp/donation.txt

Creates donations through the Flask test client against the sandbox (no latency) and reports
the process's user and system CPU per donation and per cached progress read: through the API (as
served, and by Flask alone: without the donation fast path in front of it), the
form with the monthly offer off (one request, the API's twin) and the form as donors meet it by
default (the form's POST, the offer page, the donor's "give once": three requests a donation). Under
``py-spy --gil`` only samples holding the GIL count, which approximates Python CPU time;
``--summarise`` prints the share of those samples spent under the functions that matter.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import resource
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix

from sandbox.server import start_subprocess
from service import create_app
from service.api.donation_fast_path import DonationFastPath
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


# The offer page's form, as bench/lua/donate_form_offer.lua finds it.
OFFER_ACTION = re.compile(r'action="([^"]*/choose/[^"]*)"')


def offer_flow(client: FlaskClient) -> bool:
    """A one-off gift with the monthly offer on (the default): the form's POST (303 to our offer
    page), the page (200), "No thanks, give once" (303 to Checkout). Three requests, one donation."""
    first = client.post(FORM, data=form_body())
    if first.status_code != 303:
        return False
    page = client.get(first.headers["Location"])
    action = OFFER_ACTION.search(page.get_data(as_text=True))
    if page.status_code != 200 or action is None:
        return False
    return client.post(action.group(1).replace("&amp;", "&"), data={"choice": "once"}).status_code == 303


PROGRESS = "/api/v1/appeals/red-cross-ukraine/progress"
BODY = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off"}
WATCH = (
    "create_donation (service/donations/create.py", "ensure_checkout_session (service/donations/create.py",
    "record_checkout_session (service/donations/create.py", "find (service/appeal_cache.py",
    "_call (service/stripe_gateway.py", "_refresh_from (stripe/_stripe_object.py",
    "_execute_internal (sqlalchemy/orm/session.py", "commit (sqlalchemy/orm/session.py",
    "flush (sqlalchemy/orm/session.py", "do_ping (sqlalchemy/dialects/postgresql/_psycopg_common.py",
    "wrapper (webargs/core.py", "emit (logging/__init__.py", "process_response (flask/app.py",
    "_loaded (service/api/donation_fast_path.py",
    # The form's own frames (issue 19: the form against the API), and the offer flow's two requests.
    "donate_submit (service/pages/donate.py", "load_form (schemas/donate_form.py",
    "_appeal_or_404 (service/pages/donate.py", "_load_form_data (werkzeug/wrappers/request.py",
    "redirect (flask/helpers.py", "current_locale (service/i18n.py",
    "show_offer (service/pages/monthly_offer.py", "answer_offer (service/pages/monthly_offer.py",
    "render_template (flask/templating.py", "_read_token (service/donations/monthly_offer.py",
    "offer_url (service/donations/monthly_offer.py",
)  # fmt: skip


def without_donation_fast_path(app: Flask) -> None:
    """Take ``DonationFastPath`` out of ``app``'s WSGI chain, every other layer kept."""
    owner: Any = app
    name = "wsgi_app"
    while not isinstance(getattr(owner, name), DonationFastPath):
        owner = getattr(owner, name)
        name = "app" if isinstance(owner, ProxyFix) else "wsgi_app"
    setattr(owner, name, getattr(owner, name).wsgi_app)


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
        # The same app's API donations answered by Flask alone (the view and the hooks): the
        # donation fast path in front of Flask (service/api/donation_fast_path.py) measured against
        # what it replaces, in the same run.
        flask_alone = create_app(settings=settings)
        without_donation_fast_path(flask_alone)
        flask_client = flask_alone.test_client()
        # The default form: a one-off gift is offered the monthly alternative (three requests).
        offer_client = create_app(settings=dataclasses.replace(settings, monthly_offer=True)).test_client()
        profiling.quiet_logs()
        client = app.test_client()
        for _ in range(20):
            client.post("/api/v1/donations", json=BODY)
            flask_client.post("/api/v1/donations", json=BODY)
            client.post(FORM, data=form_body())
            offer_flow(offer_client)
        # Several rounds, best reported: on a shared machine other processes only ever add time.
        cases: tuple[tuple[str, Callable[[], bool]], ...] = (
            ("donation", lambda: client.post("/api/v1/donations", json=BODY).status_code == 201),
            (
                "donation, Flask alone (no fast path)",
                lambda: flask_client.post("/api/v1/donations", json=BODY).status_code == 201,
            ),
            ("form donation, no offer", lambda: client.post(FORM, data=form_body()).status_code == 303),
            ("form donation with the offer (3 requests)", lambda: offer_flow(offer_client)),
            ("cached progress", lambda: client.get(PROGRESS).status_code == 200),
        )
        for label, send in cases:
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


# The views of every donation request: the API's (webargs wraps it; in front of Flask, the donation
# fast path's answer), the form's and the offer flow's two (whose page creates no donation); their
# frames above the view are Flask's.
DONATION_VIEWS = (
    "wrapper (webargs/core.py", "answer (service/api/donation_fast_path.py",
    "donate_submit (service/pages/donate.py", "answer (service/pages/form_fast_path.py",
    "_offer (service/pages/monthly_offer.py",
)  # fmt: skip


def summarise(path: str) -> None:
    profiling.summarise(path, WATCH, lambda stack: any(view in stack for view in DONATION_VIEWS))


if __name__ == "__main__":
    profiling.main(__doc__ or "", "donations", 400, measure, summarise)
