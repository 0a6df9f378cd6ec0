"""Requests past what the connection pool serves at once queue for a connection instead of failing,
while a database that answers nothing is still a quick failure (a 503 for the donor).

At a telethon peak a gevent worker has up to 100 requests in flight on its pool's connections;
SQLAlchemy's QueuePool gave up on a waiter after 5 s however busy the pool was, and donors got a
503 while the pool served hundreds of others a second (bench/telethon.py). service/db.py's
QueueingPool waits on while connections keep coming back. Real PostgreSQL connections, with the
pool's times scaled down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import service.db
from service.db import QueueingPool, make_engine
from service.settings import Settings

STALL = 0.3  # stands for POOL_STALL_SECONDS (5 s)


@pytest.fixture(autouse=True)
def _postgresql_only(database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("SQLite does not use the connection pool's queue")


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(service.db, "POOL_STALL_SECONDS", STALL)
    engine = make_engine(Settings(database_url=database_url, database_pool_size=2, database_queue_seconds=5))
    yield engine
    engine.dispose()


def busy_requests(engine: Engine, count: int, hold: float) -> list[BaseException | None]:
    """``count`` requests at once, each holding a connection ``hold`` seconds; their failures."""
    outcomes: list[BaseException | None] = [None] * count

    def request(n: int) -> None:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(:s)"), {"s": hold})
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            outcomes[n] = exc

    threads = [threading.Thread(target=request, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_requests_past_the_pool_wait_their_turn_while_it_serves_others(engine: Engine) -> None:
    assert isinstance(engine.pool, QueueingPool)
    # 8 requests on 2 connections, 0.25 s each: the last wait about 0.75 s, well past the
    # 0.3 s a pool may go without giving a connection back.
    started = time.monotonic()
    assert busy_requests(engine, 8, 0.25) == [None] * 8
    assert time.monotonic() - started >= 1.0  # they did queue: 4 rounds of 0.25 s


def test_sqlalchemys_own_pool_would_have_failed_them(database_url: str) -> None:
    """The same load on QueuePool with the same timeout: some waiters give up (what donors saw)."""
    plain = create_engine(database_url, pool_size=2, max_overflow=0, pool_timeout=STALL)
    try:
        outcomes = busy_requests(plain, 8, 0.25)
    finally:
        plain.dispose()
    assert any(isinstance(outcome, PoolTimeout) for outcome in outcomes)


def test_a_pool_that_gives_nothing_back_fails_its_waiters_after_the_stall(engine: Engine) -> None:
    # Both connections held and never returned: a database that hangs, or locks held.
    held = [engine.connect(), engine.connect()]
    try:
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            engine.connect()
        waited = time.monotonic() - started
    finally:
        for conn in held:
            conn.close()
    assert STALL <= waited < STALL + 0.5  # not the 5 s queue limit


def test_a_database_that_refuses_connections_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.db, "POOL_STALL_SECONDS", 5.0)
    gone = make_engine(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/gone"))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError):
            gone.connect()
        assert time.monotonic() - started < 1.0
    finally:
        gone.dispose()


def test_the_queue_limit_survives_the_pool_being_replaced(engine: Engine) -> None:
    # engine.dispose() (after a fork, or on a lost database) makes a new pool of the same class.
    engine.dispose()
    replaced: Any = engine.pool.recreate()
    assert isinstance(replaced, QueueingPool) and replaced.queue_seconds == 5


def test_waiters_are_served_in_the_order_they_came(engine: Engine) -> None:
    held = [engine.connect(), engine.connect()]
    served: list[int] = []

    def request(n: int) -> None:
        with engine.connect() as conn:
            served.append(n)
            conn.execute(text("SELECT pg_sleep(0.05)"))

    pool: Any = engine.pool
    threads = []
    for n in range(6):
        threads.append(threading.Thread(target=request, args=(n,)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while pool.waiting() < n + 1 and time.monotonic() < deadline:  # it asked and waits
            time.sleep(0.005)
    held[0].close()  # one connection goes round, from each to the next
    for thread in threads:
        thread.join()
    held[1].close()
    assert served == [0, 1, 2, 3, 4, 5]
