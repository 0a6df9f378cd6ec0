"""Shared fixtures: a real database (SQLite and PostgreSQL), the Stripe sandbox over HTTP, the app.

Tests that take the ``app`` fixture run once per database backend. PostgreSQL must be
reachable: the suite fails rather than silently skipping it (``--db sqlite`` opts out locally).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from service import create_app, extensions
from service.appeals import SEED_FILE, load_file
from service.migrate import upgrade
from service.settings import Settings
from service.tables import Base

# Every log line of the run goes to test-artifacts/; the run fails if a secret or email is in it.
pytest_plugins = ["tests.log_capture"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_WEBHOOK_SECRET = "whsec_test_suite_secret"


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

    running = start_in_thread(port=0, webhook_secrets=[TEST_WEBHOOK_SECRET])
    yield running
    running.stop()


@pytest.fixture
def settings(database_url: str, sandbox: Any) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        stripe_secret_key="sk_test_suite",
        stripe_webhook_secrets=(TEST_WEBHOOK_SECRET,),
        stripe_api_base=sandbox.base_url,
        stripe_timeout_seconds=2.0,
        stripe_max_retries=1,
        public_base_url="http://donate.test",
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        database_pool_size=5,
        # Tests fire bursts from one address; tests/reliability checks the real limits.
        rate_limit_donations="1000/minute",
        # No Stripe call budget: tests fire bursts against the sandbox; tests/surge sets one.
        stripe_call_budget=0,
        # The monthly offer is a step of its own between the donate form and Checkout; the tests
        # of that step turn it on (tests/lifecycle/test_monthly_offer.py), the rest go straight on.
        monthly_offer=False,
    )


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in existing:
                conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def app(settings: Settings, sandbox: Any) -> Iterator[Any]:
    """The service on a clean database holding just the seeded appeal; sandbox faults cleared."""
    _empty_tables(settings.database_url)
    sandbox.control.reset()
    application = create_app({"TESTING": True}, settings=settings)
    with application.app_context():
        from service.db import database

        with database().begin() as session:
            load_file(session, SEED_FILE)
    yield application
    extensions.database(application).engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db_session(app: Any) -> Iterator[Any]:
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
