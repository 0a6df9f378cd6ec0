"""The suite's fixtures: a real database (SQLite and PostgreSQL), the Stripe sandbox over HTTP, the app.

Tests that take the ``app`` fixture run once per database backend. PostgreSQL must be
reachable: the suite fails rather than silently skipping it (``--db sqlite`` opts out locally).

One app per settings and backend. Building the app costs ~0.3 s, so each xdist worker builds it
once per backend (and once per distinct ``settings``, see below) and every test gets it back as
if new: tables emptied and the sample appeal seeded, the sandbox reset, caches, rate-limit counts
and counters forgotten; after the test its settings, config and Stripe gateway are put back and
its pooled connections closed (a test may kill them). Two ways to other settings, nothing else:

- a folder whose tests all need them overrides ``settings`` in its conftest (tests/surge): that
  folder gets its own app, also built once and cleaned the same way;
- one test: ``make_app(**overrides)`` builds a dedicated app on the same database (disposed after).

Shared helpers the tests import (constants, servers, the ``Ledger`` reader) live in tests/support/;
no test module or conftest imports from a conftest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import create_app, extensions
from service.donations import DonationRequest, create_donation
from service.donations.models import Donation
from service.finance import tokens
from service.migrate import upgrade
from service.settings import Settings
from tests.support.apps import BuiltApp
from tests.support.finance import bearer
from tests.support.gifts import GIFT
from tests.support.ledger import Ledger
from tests.support.servers import LiveServer, serving_webhooks
from tests.support.settings import POSTGRES_URL, suite_settings

# Every log line of the run goes to test-artifacts/; the run fails if a secret or email is in it.
pytest_plugins = ["tests.log_capture"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default="both",
        choices=("both", "sqlite", "postgresql"),
        help="database backends to run database tests against (default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("database_backend", backends, scope="session")


# -- the database -------------------------------------------------------------------------------


def _postgres_url_for_worker(worker: str) -> str:
    """One database per xdist worker and run, so neither parallel workers nor two suites running
    at once on one machine share tables (the run's id comes from xdist; the database is dropped
    when the worker finishes, see ``database_url``)."""
    if worker == "master":
        return POSTGRES_URL
    url = make_url(POSTGRES_URL)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
    name = f"{url.database}_{worker}_{run}" if run else f"{url.database}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - turned into a clear failure below
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(url).render_as_string()}: "
            f"{type(exc).__name__}. Start it (see README) or run with --db sqlite.",
            pytrace=False,
        )
    finally:
        engine.dispose()


def _drop_postgres(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(
    database_backend: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[str]:
    """A migrated, empty database for the whole session (migrations are part of what is tested)."""
    if database_backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
        url = f"sqlite:///{path}"
    else:
        url = _postgres_url_for_worker(worker_id)
        _reset_postgres(url)
    upgrade(url)
    yield url
    if url != POSTGRES_URL and database_backend == "postgresql":
        _drop_postgres(url)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The Stripe sandbox, running on a free loopback port for the whole session."""
    from sandbox.server import start_in_thread
    from tests.support.settings import TEST_WEBHOOK_SECRET

    running = start_in_thread(port=0, webhook_secrets=[TEST_WEBHOOK_SECRET])
    yield running
    running.stop()


@pytest.fixture
def settings(database_url: str, sandbox: Any) -> Settings:
    """The app's settings (tests/support/settings.py); a folder may override this fixture."""
    return suite_settings(database_url, sandbox.base_url)


# -- the app: built once per settings, fresh for every test ------------------------------------


@pytest.fixture(scope="session")
def _built_apps() -> Iterator[dict[str, BuiltApp]]:
    built: dict[str, BuiltApp] = {}
    yield built
    for each in built.values():
        each.dispose()


@pytest.fixture
def app(settings: Settings, sandbox: Any, _built_apps: dict[str, BuiltApp]) -> Iterator[Flask]:
    """The service on a clean database holding just the seeded appeal; sandbox faults cleared.

    Built once per ``settings`` (so per backend) in each worker and made fresh for each test.
    """
    key = repr(settings)
    built = _built_apps.get(key)
    if built is None:
        built = _built_apps[key] = BuiltApp(settings)
    yield built.fresh(sandbox)
    built.put_back()


@pytest.fixture
def make_app(app: Flask, settings: Settings) -> Iterator[Callable[..., Flask]]:
    """Build a dedicated app on ``app``'s clean database with some settings changed (disposed after)."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = create_app({"TESTING": True}, settings=settings.with_overrides(**overrides))
        made.append(application)
        return application

    yield build
    for application in made:
        extensions.database(application).engine.dispose()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    """A session outside any request, for arranging and asserting rows."""
    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            yield session
        finally:
            session.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# -- the app on a real socket -----------------------------------------------------------------


@pytest.fixture
def live_server(app: Flask, sandbox: Any) -> Iterator[LiveServer]:
    """``app`` on a free loopback port, for browsers and real HTTP clients: PUBLIC_BASE_URL points
    at it (so Stripe sends the donor back to it) and the sandbox delivers its signed webhooks to it."""
    with serving_webhooks(app, sandbox) as url:
        extensions.set_settings(app, extensions.settings(app).with_overrides(public_base_url=url))
        yield LiveServer(url, app)


@pytest.fixture
def webhooks(live_server: LiveServer) -> str:
    """Where the sandbox delivers its signed events (the real ledger): the live server's URL."""
    return live_server.url


# -- the ledger, donations and finance tokens -------------------------------------------------


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


@pytest.fixture
def make_donation(app: Flask) -> Callable[..., Donation]:
    """A donation created the real way, with its Checkout Session in the sandbox."""

    def make(amount: int = 2500, currency: str = "gbp", frequency: str = "one_off") -> Donation:
        with app.app_context():
            db = extensions.database(app).sessionmaker()
            try:
                request = DonationRequest(appeal="red-cross-ukraine", amount=amount, currency=currency,
                                          frequency=frequency, email="donor@example.org")  # fmt: skip
                donation, _ = create_donation(
                    db, extensions.stripe_gateway(app), extensions.settings(app), request
                )
                return donation
            finally:
                db.close()

    return make


@pytest.fixture
def give(client: Any, sandbox: Any, ledger: Ledger) -> Callable[..., Donation]:
    """POST a donation through the API, pay it in the sandbox and wait for the ledger to record it
    (take ``webhooks`` or ``live_server`` too, so the sandbox's events reach the ledger)."""

    def make(pay: bool = True, **body: Any) -> Donation:
        response = client.post("/api/v1/donations", json={**GIFT, **body})
        assert response.status_code == 201, response.get_json()
        donation = ledger.donation(response.get_json()["id"])
        if pay:
            sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
            assert sandbox.control.wait_for_webhooks(timeout=20), "webhook deliveries did not finish"
            donation = ledger.donation(donation.id)
        return donation

    return make


@pytest.fixture
def fresh_figures(app: Flask) -> Callable[[], None]:
    """Forget cached progress, as if its short time-to-live had passed."""
    return extensions.progress_cache(app).clear


@pytest.fixture
def issue(app: Flask) -> Callable[..., str]:
    """Create a finance token the way `flask finance tokens create` does; returns the secret."""

    def make(role: str = "accountant", appeals: list[str] | None = None, days: int = 30,
             now: datetime | None = None) -> str:  # fmt: skip
        with app.app_context(), extensions.database(app).begin() as db:
            return tokens.create_token(db, name=f"test {role}", role=role, days=days,
                                       appeals=appeals, now=now).secret  # fmt: skip

    return make


@pytest.fixture
def finance_get(client: Any, issue: Callable[..., str]) -> Callable[..., Any]:
    """GET a finance API path as a token of ``role`` (accountant by default)."""
    secrets: dict[str, str] = {}

    def get(path: str, role: str = "accountant", **kwargs: Any) -> Any:
        if role not in secrets:
            secrets[role] = issue(role)
        headers = {**bearer(secrets[role]), **kwargs.pop("headers", {})}
        return client.get(f"/api/v1/finance{path}", headers=headers, **kwargs)

    return get
