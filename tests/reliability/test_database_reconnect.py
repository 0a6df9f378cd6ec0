"""Pooled PostgreSQL connections that die (a restart, a failover, an idle timeout).

The pool pings a connection only when it has been idle for a while (service/db.py), so these
tests pin down both sides of that trade: an idle dead connection is replaced before a donor
sees it; a recently used one that died fails one request with a 503 (never a 500), changes
nothing, and the next request works.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

import service.db

from ..service.helpers import VALID, donation_count


@pytest.fixture(autouse=True)
def _postgresql_only(database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("SQLite has no server connections to lose")


def kill_other_connections(url: str) -> int:
    """Terminate every other backend on this test database, as a server restart would."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def test_an_idle_connection_that_died_is_replaced_before_the_request_uses_it(
    app: Any, client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    assert kill_other_connections(settings.database_url) >= 1
    monkeypatch.setattr(service.db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled one counts as idle
    response = client.post("/api/v1/donations", json=VALID)
    assert response.status_code == 201, response.get_json()
    assert donation_count(app) == 2


def test_a_recently_used_connection_that_died_costs_one_503_and_nothing_else(
    app: Any, client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # nothing is pinged
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    assert kill_other_connections(settings.database_url) >= 1
    failed = client.post("/api/v1/donations", json=VALID)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "5"
    assert failed.get_json()["error"]["code"] == "database_unavailable"
    assert donation_count(app) == 1
    # The failure invalidated the pool: the next request gets a fresh connection.
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    assert donation_count(app) == 2


def test_a_donor_submitting_the_form_gets_the_friendly_503_page(
    app: Any, client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    assert client.get("/donate/red-cross-ukraine").status_code == 200
    kill_other_connections(settings.database_url)
    form = {
        "form_token": "reconnect-test-0001",
        "currency": "gbp",
        "frequency": "one_off",
        "amount_choice": "2500",
    }
    page = client.post("/donate/red-cross-ukraine", data=form)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "text/html" in page.content_type
    assert "not been charged" in page.get_data(as_text=True)
    assert donation_count(app) == 0
