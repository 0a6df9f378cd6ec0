"""Two runs of the same requests, one by Flask alone and one through a fast path in front of it,
compared in everything that is not per request: the method of tests/service/test_donation_fast_path.py
and tests/service/test_form_fast_path.py.

Each run starts from the same fresh state (tests/support/apps.py: ``made_fresh``) and records the
status, body and headers in order of every answer, every log line (each must carry the answer's
request id), the counters and histogram counts, every table's rows, the sandbox's Stripe calls and
the donation limits' windows; ids the service or Stripe makes and times are normalised away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from service import extensions
from service.tables import Base
from tests.support.apps import made_fresh
from tests.support.flask_requests import requests_flask_handled

PER_REQUEST_HEADERS = {"X-Request-Id", "Date"}
PER_REQUEST_FIELDS = {"time", "elapsed_ms", "request_id"}
# What differs between two runs of the same requests: ids the service or Stripe makes, and times.
PER_RUN = [
    (re.compile(r"\b(don|cs|pi|sub|plink|price|prod|cus|evt|req|seti|link)_(test_)?[A-Za-z0-9]{8,}"), r"\1_"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?"), "T"),
    (re.compile(r"\b1[6-9]\d{8}(\.\d+)?\b"), "EPOCH"),
    (re.compile(r"/test_[A-Za-z0-9]+"), "/test_"),  # a Payment Link's address
    (re.compile(r"donation-[A-Za-z0-9_]+-checkout-[0-9a-f]+"), "donation-checkout-key"),
    (re.compile(r"/choose/[A-Za-z0-9_.-]+"), "/choose/TOKEN"),  # the monthly offer's signed, timed link
    # A fresh form's token (the page the view renders when the donor must start again).
    (re.compile(r'name="form_token" value="[A-Za-z0-9_-]+"'), 'name="form_token" value="TOKEN"'),
]


def normalised(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    for pattern, replacement in PER_RUN:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def without_layer(app: Flask, layer_class: type) -> Iterator[None]:
    """The app with its ``layer_class`` layer taken out of the WSGI chain, every other layer kept."""
    owner: Any = app
    name = "wsgi_app"
    while True:
        layer = getattr(owner, name)
        if isinstance(layer, layer_class):
            setattr(owner, name, layer.wsgi_app)
            try:
                yield
            finally:
                setattr(owner, name, layer)
            return
        owner, name = layer, "app" if isinstance(layer, ProxyFix) else "wsgi_app"


def layer_of(app: Flask, layer_class: type) -> Any:
    """The app's WSGI layer of ``layer_class``."""
    owner: Any = app.wsgi_app
    while not isinstance(owner, layer_class):
        owner = owner.app if isinstance(owner, ProxyFix) else owner.wsgi_app
    return owner


def counters() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram count of this process (not the process's own figures)."""
    found = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name.endswith(("_total", "_count")) and not s.name.startswith(("process_", "python_")):
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def rows(app: Flask) -> dict[str, list[str]]:
    """Every table's rows, but for ids and times (PostgreSQL's sequences go on between runs)."""

    def row(mapping: Any) -> str:
        return normalised(
            {k: "ID" if k == "id" or k.endswith("_id") else v for k, v in dict(mapping).items()}
        )

    with extensions.database(app).sessionmaker() as db:
        return {
            table.name: sorted(row(each._mapping) for each in db.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def limit_counts(app: Flask) -> dict[str, int]:
    """How many attempts each donation-limit window holds (the tests' counts are in this process)."""
    return {key: len(entries) for key, entries in extensions.rate_limiter(app).local._entries.items()}


@dataclass
class Run:
    answers: list[tuple[int, str, list[tuple[str, str]]]] = field(default_factory=list)
    lines: list[list[list[tuple[str, Any]]]] = field(default_factory=list)
    raw_lines: list[list[dict[str, Any]]] = field(default_factory=list)
    metrics: dict[Any, float] = field(default_factory=dict)
    rows: dict[str, list[str]] = field(default_factory=dict)
    stripe: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    by_flask: list[bool] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def comparable(self) -> tuple[Any, ...]:
        return self.answers, self.lines, self.metrics, self.rows, self.stripe, self.limits, self.statuses


COMPARED = ("answers", "lines", "metrics", "rows", "stripe", "limits", "statuses")
Send = Callable[[Any], Any]


def run(
    app: Flask, sandbox: Any, log_lines: list[str], sends: list[Send], prepare: Callable[[], Any] | None
) -> Run:
    made_fresh(app, extensions.settings(app), sandbox)
    if prepare is not None:
        prepare()
    log_lines.clear()
    before = counters()
    result = Run()
    client = app.test_client()
    for send in sends:
        with requests_flask_handled(app) as seen:
            response = send(client)
        result.by_flask.append(bool(seen))
        request_id = response.headers["X-Request-Id"]
        lines = [json.loads(line) for line in log_lines]
        log_lines.clear()
        # Every line of the request carries its id: the view's, the hooks' and create_donation's.
        assert [line.get("request_id") for line in lines] == [request_id] * len(lines), lines
        result.raw_lines.append(lines)
        result.lines.append(
            [[(k, normalised(v)) for k, v in line.items() if k not in PER_REQUEST_FIELDS] for line in lines]
        )
        headers = [(k, normalised(v)) for k, v in response.headers.items() if k not in PER_REQUEST_HEADERS]
        result.answers.append((response.status_code, normalised(response.get_data(as_text=True)), headers))
        result.statuses.append(response.status_code)
        result.bodies.append(response.get_json(silent=True))
        result.headers.append(dict(response.headers))
        result.texts.append(response.get_data(as_text=True))
    after = counters()
    result.metrics = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    result.rows = rows(app)
    result.stripe = [normalised(call) for call in sandbox.control.requests()]
    result.limits = limit_counts(app)
    return result


def both_ways(
    app: Flask,
    sandbox: Any,
    log_lines: list[str],
    sends: list[Send],
    layer_class: type,
    prepare: Callable[[], Any] | None = None,
) -> tuple[Run, Run]:
    """The requests by Flask alone (``layer_class`` taken out), then through it; the same in all
    that is not per request."""
    with without_layer(app, layer_class):
        by_view = run(app, sandbox, log_lines, sends, prepare)
    fast = run(app, sandbox, log_lines, sends, prepare)
    assert all(by_view.by_flask)
    for name, mine, theirs in zip(COMPARED, fast.comparable(), by_view.comparable(), strict=True):
        assert mine == theirs, name
    return by_view, fast


# What the cases of both fast paths share beyond the comparison.

STRIPE_SESSIONS = "/v1/checkout/sessions"


def created_once(fast: Run, by_view: Run) -> None:
    """After a Stripe failure the fast path carried to the view: create_donation ran once, one row
    and its Stripe calls once (stripe-python's own retry included), the attempt counted once."""
    assert len(fast.rows["donations"]) == 1 and "checkout_error" in fast.rows["donations"][0]
    assert len([call for call in fast.stripe if STRIPE_SESSIONS in call]) == len(
        [call for call in by_view.stripe if STRIPE_SESSIONS in call]
    )
    assert sum(fast.limits.values()) == 2  # counted once (a 5xx counts), not twice


def closing_the_appeal(app: Flask) -> Callable[[], None]:
    """A ``prepare`` for :func:`both_ways`: the appeal closed, as its CLI closes it."""

    def close() -> None:
        result = app.test_cli_runner().invoke(args=["appeals", "close", "red-cross-ukraine"])
        assert result.exit_code == 0, result.output

    return close


def making_payment_links(app: Flask) -> Callable[[], None]:
    """A ``prepare`` for :func:`both_ways`: the appeals' Payment Links made, for surge mode."""

    def make() -> None:
        result = app.test_cli_runner().invoke(args=["surge", "payment-links", "create"])
        assert result.exit_code == 0, result.output

    return make


def counting_calls(monkeypatch: Any, module: Any, name: str) -> list[str]:
    """Each call of ``module.name`` from now on, recorded (and made as before)."""
    calls: list[str] = []
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@contextmanager
def database_gone(app: Flask) -> Iterator[None]:
    """The app started fine; then its database went away (the engine points at nothing)."""
    from sqlalchemy import create_engine

    sessions = extensions.database(app).sessionmaker
    engine = sessions.kw["bind"]
    sessions.configure(bind=create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x"))
    try:
        yield
    finally:
        sessions.configure(bind=engine)


def with_a_cookie(send: Send, name: str) -> Send:
    """``send`` from a client holding the cookie ``name`` (the test client sends its jar's cookies,
    never a ``Cookie`` header given to it)."""

    def sent(client: Any) -> Any:
        client.set_cookie(name, "1")
        return send(client)

    return sent
