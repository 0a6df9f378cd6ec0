"""The connections ``run_alone`` keeps between its statements (service/db.py: QueueingPool).

Every donation runs two statements through ``run_alone`` (its row, then its Checkout Session),
each committed by itself on a connection in autocommit. The pool keeps a few such connections
checked out and in autocommit between statements, instead of checking one out, switching it to
autocommit, switching it back and checking it in around every statement. These tests hold that
to what the pool promised before: the ORM's sessions never get a connection in autocommit, a
connection idle for a while is pinged before use, a lost database empties what is kept, the
pool's waiters are served first and never starve while connections sit kept, and the number of
connections to the database stays the pool's size. Real PostgreSQL connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

import service.db
from service.db import QueueingPool, make_engine, run_alone
from service.settings import Settings

BACKEND_PID = "SELECT pg_backend_pid()"


@pytest.fixture(autouse=True)
def _postgresql_only(database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("run_alone runs on PostgreSQL only")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(Settings(database_url=database_url, database_pool_size=6))
    yield engine
    engine.dispose()


def pool_of(engine: Engine) -> QueueingPool:
    assert isinstance(engine.pool, QueueingPool)
    return engine.pool


def alone(engine: Engine, sql: str = BACKEND_PID, params: dict[str, Any] | None = None) -> Any:
    with Session(engine) as db:
        row = run_alone(db, sql, params or {})
    return row[0] if row else None


def test_statements_one_after_another_share_one_kept_connection(engine: Engine) -> None:
    pool = pool_of(engine)
    first = alone(engine)
    assert pool.checkedout() == 1  # kept, not checked in
    assert [alone(engine) for _ in range(5)] == [first] * 5
    assert pool.checkedout() == 1


def test_each_statement_still_commits_by_itself(engine: Engine, database_url: str) -> None:
    kept_pid = alone(engine)
    alone(engine, "DROP TABLE IF EXISTS run_alone_commit_probe")
    alone(engine, "CREATE TABLE run_alone_commit_probe (n int)")
    try:
        alone(engine, "INSERT INTO run_alone_commit_probe VALUES (%(n)s)", {"n": 7})
        # Seen at once from an unrelated connection: committed, and the kept connection holds
        # no transaction open (a connection outside autocommit would be "idle in transaction").
        other = create_engine(database_url)
        try:
            with other.connect() as conn:
                assert conn.execute(text("SELECT n FROM run_alone_commit_probe")).scalar_one() == 7
                state = text("SELECT state FROM pg_stat_activity WHERE pid = :pid")
                assert conn.execute(state, {"pid": kept_pid}).scalar_one() == "idle"
        finally:
            other.dispose()
    finally:
        alone(engine, "DROP TABLE IF EXISTS run_alone_commit_probe")


def test_the_orm_never_gets_a_kept_connection_in_autocommit(engine: Engine) -> None:
    pool = pool_of(engine)
    kept_pid = alone(engine)
    with Session(engine) as db:
        conn = db.connection()
        driver = conn.connection.driver_connection
        assert driver.autocommit is False
        # The ORM's transaction is its own: it can roll back what it wrote.
        assert db.execute(text(BACKEND_PID)).scalar_one() != kept_pid
    assert pool.checkedout() == 1


def test_a_checkout_that_would_wait_gets_a_kept_connection_at_once(database_url: str) -> None:
    """Kept connections never cost the ORM a connection: with every connection of the pool kept
    for statements, a checkout is given one of them, out of autocommit, without waiting."""
    small = make_engine(Settings(database_url=database_url, database_pool_size=2))
    try:
        pool = pool_of(small)
        held = [pool.take_for_statement(small) for _ in range(2)]
        pids = {p.driver_connection.info.backend_pid for p in held}
        for pooled in held:
            pool.keep_after_statement(pooled)
        assert pool.kept() == 2 and pool.checkedout() == 2
        started = time.monotonic()
        with Session(small) as db:
            conn = db.connection()
            assert conn.connection.driver_connection.autocommit is False
            assert db.execute(text(BACKEND_PID)).scalar_one() in pids
            assert pool.kept() == 1
        assert time.monotonic() - started < 1.0  # not the 5 s stall
        assert pool.waiting() == 0
    finally:
        small.dispose()


def test_a_waiter_gets_the_connection_instead_of_it_being_kept(database_url: str) -> None:
    small = make_engine(Settings(database_url=database_url, database_pool_size=1))
    try:
        pool = pool_of(small)
        pooled = pool.take_for_statement(small)  # the pool's only connection
        pid = pooled.driver_connection.info.backend_pid
        got: list[int] = []
        waiter = threading.Thread(target=lambda: got.append(alone(small)))
        waiter.start()
        while not pool.waiting():
            threading.Event().wait(0.01)
        pool.keep_after_statement(pooled)  # someone waits: it goes to them, not to the kept ones
        waiter.join(timeout=5)
        assert not waiter.is_alive()
        assert got == [pid]
        assert pool.checkedout() == 1  # the waiter's statement: now kept, nobody waiting
    finally:
        small.dispose()


def test_a_connection_kept_idle_for_a_while_goes_back_and_is_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = pool_of(engine)
    first = alone(engine)
    pings: list[Any] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    monkeypatch.setattr(service.db, "PING_AFTER_IDLE_SECONDS", 0.0)  # everything counts as idle
    assert alone(engine) == first  # the same connection, after the pool's ping
    assert len(pings) == 1
    assert pool.checkedout() == 1


def test_a_lost_database_empties_what_is_kept(engine: Engine, database_url: str) -> None:
    pool = pool_of(engine)
    pids = {alone(engine)}
    held = [pool.take_for_statement(engine) for _ in range(2)]
    for pooled in held:
        pool.keep_after_statement(pooled)
    assert pool.kept() == 2
    killer = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        killer.dispose()
    with pytest.raises(DBAPIError) as lost:
        alone(engine)
    assert lost.value.connection_invalidated
    assert pool.checkedout() == 0  # the other kept one was dropped too, not left to fail a donor
    assert alone(engine) not in pids  # a fresh connection


def test_a_failed_statement_gives_its_connection_back_out_of_autocommit(engine: Engine) -> None:
    pool = pool_of(engine)
    with pytest.raises(IntegrityError):  # as a repeated idempotency key is
        alone(engine, "DO $$ BEGIN RAISE unique_violation; END $$")
    assert pool.checkedout() == 0
    with engine.connect() as conn:  # the pool's own checkout: as the ORM gets it
        assert conn.connection.driver_connection.autocommit is False


def test_dispose_gives_the_kept_connections_back(engine: Engine) -> None:
    pool = pool_of(engine)
    alone(engine)
    assert pool.checkedout() == 1
    pool.dispose()
    assert pool.checkedout() == 0
