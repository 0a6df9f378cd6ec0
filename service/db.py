"""Database engine and the per-request session.

Plain SQLAlchemy 2: one engine per app, sessions from a sessionmaker. Request handlers get the
session bound to the current app context through :func:`session`; domain code takes a
``Session`` argument so a test or a CLI command can call it without a request.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from flask import Flask, g
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool
from sqlalchemy.util import queue as sqla_queue

from . import extensions
from .settings import Settings


class Database:
    def __init__(self, settings: Settings):
        self.url = settings.database_url
        self.engine = make_engine(settings)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error (for CLI commands)."""
        with self.sessionmaker.begin() as session:
            yield session


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            from pathlib import Path

            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    # A fixed pool without overflow: overflow connections are opened and closed per request
    # under load, which costs more than waiting briefly for a pooled one.
    engine = create_engine(
        url,
        poolclass=QueueingPool,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=POOL_STALL_SECONDS,
        connect_args={"connect_timeout": 5},
    )
    engine.pool.queue_seconds = settings.database_queue_seconds  # type: ignore[attr-defined]
    ping_idle_connections(engine)
    return engine


# A pool that has given no connection back for this long is stuck (the database hangs, or every
# connection waits on a lock): a request waiting for one answers 503 rather than wait on.
POOL_STALL_SECONDS = 5.0


class QueueingPool(QueuePool):
    """A fixed pool that serves waiters first come, first served, for as long as connections
    keep coming back.

    QueuePool gives up on a waiter after ``timeout`` however busy the pool is, and its queue is
    not fair: a returned connection goes back to the pool and the waiter woken for it often
    finds it taken by a greenlet that asked just then. At a telethon peak a gevent worker has up
    to 100 requests in flight (gunicorn.conf.py) on 25 connections, on a CPU that cannot run
    them all at once, so a few donors were passed over again and again past 5 s while the pool
    served hundreds of others a second, and got a 503 (24 and 66 in two 60 s runs of
    bench/telethon.py, 0.2-0.3 %). Here a returned connection is handed straight to the longest
    waiter, and a waiter gives up only when no connection has come back for ``timeout``
    (``POOL_STALL_SECONDS``: the database is not answering, and waiting would not help) or after
    ``queue_seconds`` (``DATABASE_QUEUE_SECONDS``) in all. A lost database is as quick a 503 as
    before: a refused connection fails at connect without queueing, and a dead pooled connection
    fails its statement (tests/reliability/test_database_reconnect.py).
    """

    queue_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._last_return = time.monotonic()
        self._waiters: deque[_Waiter] = deque()
        self._waiters_lock = threading.Lock()
        # Connections kept checked out, in autocommit, between run_alone's statements, with the
        # time each was last used (see take_for_statement).
        self._kept: list[tuple[PoolProxiedConnection, float]] = []

    # -- connections for run_alone's statements --

    def take_for_statement(self, engine: Engine) -> PoolProxiedConnection:
        """A connection in autocommit for one :func:`run_alone` statement; hand it to
        :meth:`keep_after_statement` if the statement succeeded, else to :meth:`give_back`.

        Between statements the pool keeps such connections checked out and in autocommit, instead
        of checking one out, switching it to autocommit and back, resetting it and checking it in
        around every statement: that bookkeeping (SQLAlchemy's checkout and checkin, their events,
        the reset's rollback, psycopg's autocommit switch) cost more CPU than the statement itself,
        about 6 % of a donation's (bench/README.md). What the pool promised stays:

        * the ORM never gets one: its checkouts take the pool's own idle connections, and a
          checkout that would wait has a kept one given back to it first (``_do_get``), so kept
          connections never make anyone wait and the pool's size still bounds the connections;
        * one idle for ``PING_AFTER_IDLE_SECONDS`` goes back to the pool, which pings it on checkout
          as it pings any idle connection (ping_idle_connections);
        * a lost connection empties what is kept (``_invalidate``), as SQLAlchemy replaces every
          older connection of the pool then; ``dispose`` gives them all back.
        """
        now = time.monotonic()
        while True:
            try:
                pooled, since = self._kept.pop()
            except IndexError:
                break
            if now - since < PING_AFTER_IDLE_SECONDS:
                return pooled
            record_info = pooled.record_info
            self.give_back(pooled)
            if record_info is not None:  # checked in just now, but idle since: pinged at checkout
                record_info["idle_since"] = since
        pooled = engine.raw_connection()
        try:
            pooled.driver_connection.autocommit = True
        except BaseException:
            pooled.close()
            raise
        return pooled

    def keep_after_statement(self, pooled: PoolProxiedConnection) -> None:
        """Keep a connection whose statement succeeded, unless someone waits for one (they get it)."""
        # Under the lock: a checkout that starts waiting meanwhile either finds it kept (and has it
        # given back) or is seen here. (Without a lock, threads could keep it as one starts waiting.)
        with self._waiters_lock:
            if not self._waiters:
                self._kept.append((pooled, time.monotonic()))
                return
        self.give_back(pooled)

    @staticmethod
    def give_back(pooled: PoolProxiedConnection) -> None:
        """Check a statement's connection in, out of autocommit as the pool gives them out (or
        invalidated if that cannot be done: interrupted mid-statement, say)."""
        try:
            if pooled.is_valid:
                pooled.driver_connection.autocommit = False
        except Exception:  # noqa: BLE001 - not reusable, whatever the reason
            pooled.invalidate()
        finally:
            pooled.close()

    def kept(self) -> int:
        """How many connections are kept for statements now."""
        return len(self._kept)

    def _give_back_one_kept(self) -> None:
        try:
            pooled, _ = self._kept.pop()
        except IndexError:
            return
        self.give_back(pooled)  # to the longest waiter (_do_return_conn)

    def _invalidate(
        self, connection: Any, exception: BaseException | None = None, _checkin: bool = True
    ) -> None:
        super()._invalidate(connection, exception, _checkin)
        kept, self._kept = self._kept, []
        for pooled, _ in kept:
            pooled.invalidate()

    def dispose(self) -> None:
        kept, self._kept = self._kept, []
        for pooled, _ in kept:
            self.give_back(pooled)
        super().dispose()

    # -- the queue --

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._last_return = time.monotonic()
        # Under the lock, so no one can start waiting while this connection goes back idle.
        with self._waiters_lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.record = record
                waiter.ready.set()
            else:
                super()._do_return_conn(record)

    def _do_get(self) -> ConnectionPoolEntry:
        with self._waiters_lock:
            if not self._waiters:  # nobody queued before us: an idle connection, or a new one
                try:
                    return self._pool.get(False)
                except sqla_queue.Empty:
                    opening = self._inc_overflow()
            else:
                opening = False
            if not opening:
                waiter = _Waiter()
                self._waiters.append(waiter)
        if opening:
            try:
                return self._create_connection()
            except BaseException:
                self._dec_overflow()
                raise
        # Every connection is out: one kept idle for statements, if any, goes to the first waiter.
        self._give_back_one_kept()
        return self._wait(waiter)

    def _wait(self, waiter: _Waiter) -> ConnectionPoolEntry:
        started = time.monotonic()
        while True:
            waiter.ready.wait(self._timeout)
            with self._waiters_lock:
                if waiter.record is not None:
                    return waiter.record
                now = time.monotonic()
                if now - self._last_return >= self._timeout or now - started >= self.queue_seconds:
                    self._waiters.remove(waiter)
                    raise PoolTimeout(
                        f"no connection within {now - started:.1f} s "
                        f"(pool of {self.size()}, {len(self._waiters)} others waiting)"
                    )

    def waiting(self) -> int:
        """How many checkouts are queued for a connection now."""
        return len(self._waiters)

    def recreate(self) -> QueueingPool:
        pool = super().recreate()
        pool.queue_seconds = self.queue_seconds  # type: ignore[attr-defined]
        return pool  # type: ignore[return-value]


class _Waiter:
    __slots__ = ("ready", "record")

    def __init__(self) -> None:
        # threading.Event is a gevent Event in a gevent worker (gunicorn patches threading).
        self.ready = threading.Event()
        self.record: ConnectionPoolEntry | None = None


# A connection back in use within this many seconds is trusted without a ping.
PING_AFTER_IDLE_SECONDS = 5.0


def ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only if it has been idle a while.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per transaction, about
    a fifth of a small write's cost, spent under load on connections used a millisecond ago.
    Connections that sat idle (where a database restart or failover most likely left them dead)
    are still pinged, and a dead one is replaced before the request sees it. One used recently
    that died meanwhile fails its statement; SQLAlchemy then invalidates the whole pool, so it
    costs one request per worker, answered as a 503.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new (just connected) or recently used
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means the connection is unusable
            raise DisconnectionError("idle connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("idle connection failed its ping")


def init_app(app: Flask, settings: Settings) -> Database:
    database = Database(settings)
    extensions.set_database(app, database)
    app.teardown_appcontext(_close_session)
    return database


def database() -> Database:
    return extensions.database()


def session() -> Session:
    """The session for the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


@cache
def _insert_ignoring_conflicts(dialect: str, table: Table) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING rather than rowcount: drivers disagree on rowcount when the insert did nothing.
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def insert_ignore(db: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row was inserted.

    A Core statement built once per table (the columns are the keys of ``values``): building an
    ORM insert per call cost a webhook more CPU than PostgreSQL spent on it.
    """
    statement = _insert_ignoring_conflicts(db.get_bind().dialect.name, model.__table__)  # type: ignore[attr-defined]
    return db.connection().execute(statement, values).first() is not None


def insert_ignore_returning_id(db: Session, model: type, values: dict[str, Any]) -> Any:
    """As :func:`insert_ignore`, giving the new row's id (None if nothing was inserted)."""
    statement = _insert_ignoring_conflicts(db.get_bind().dialect.name, model.__table__)  # type: ignore[attr-defined]
    return db.connection().execute(statement, values).scalar()


AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def each_statement_commits(db: Session) -> bool:
    """On PostgreSQL, when ``db`` has no transaction yet, let each of its next statements commit
    by itself: a write that is one statement then costs one round trip instead of three (``BEGIN``,
    the statement, ``COMMIT``: psycopg sends ``BEGIN`` on its own). The caller still ends with
    ``db.commit()``, which then sends nothing; the connection goes back to the pool with its usual
    isolation level. Only for code whose every statement is atomic on its own. Returns whether it
    did (False on SQLite, or once the session holds a connection: its statements then share
    that transaction)."""
    if db.get_bind().dialect.name != "postgresql":
        return False
    if _holds_connection(db):
        return False
    db.connection(execution_options=AUTOCOMMIT)
    return True


def _holds_connection(db: Session) -> bool:
    transaction = db.get_transaction()
    # A session "begins" as soon as an object is merged into it, without a connection; only a
    # connection already taken means a transaction on the server. (SQLAlchemy has no public way
    # to ask; _connections is SessionTransaction's map of them, in 2.0 and 2.1.)
    return transaction is not None and bool(transaction._connections)  # noqa: SLF001


def runs_alone(db: Session) -> bool:
    """Whether :func:`run_alone` can run a statement for ``db``: on PostgreSQL, while ``db`` holds
    no connection (else the statement belongs in its transaction, through SQLAlchemy)."""
    return db.get_bind().dialect.name == "postgresql" and not _holds_connection(db)


def run_alone(db: Session, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run one PostgreSQL statement through psycopg itself, committed by itself; its first row.

    For the few statements every donation runs (service/donations/writes.py). SQLAlchemy's
    execution of one short statement (the compiled-statement cache lookup, the execution
    context and result proxy, the session's connection and transaction bookkeeping) costs more
    CPU than psycopg and PostgreSQL spend on it; here a connection in autocommit (one round trip:
    no ``BEGIN`` or ``COMMIT``) is given ``sql`` as a prepared statement (``%(name)s``
    parameters). The connection is one the pool keeps for these statements, checked out and in
    autocommit between them (:meth:`QueueingPool.take_for_statement`: the idle ping, the pool's
    bound and its waiters stay as they were), or, with another pool, one checked out as usual.
    Only when :func:`runs_alone` says so; the statement must be atomic on its own.

    Failures look as SQLAlchemy's would: psycopg's errors become SQLAlchemy's (an
    ``IntegrityError`` for a unique key; a ``DBAPIError`` with ``connection_invalidated`` for a
    lost connection, which errors.py answers with a 503), parameters never in their text, and a
    lost connection invalidates the pool's older connections as SQLAlchemy does.
    """
    engine = db.get_bind()
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    pool = engine.pool
    keeps_connections = isinstance(pool, QueueingPool)
    try:
        pooled = pool.take_for_statement(engine) if keeps_connections else engine.raw_connection()
    except dbapi_error as exc:  # refused or unreachable: an OperationalError, answered with a 503
        raise _as_sqlalchemy_error(dialect, exc, sql, params, lost=False) from exc
    driver = pooled.driver_connection
    done = False
    try:
        if not keeps_connections:
            driver.autocommit = True
        cursor = driver.execute(sql, params, prepare=True)
        # Whether the statement gives rows (RETURNING), asked of the result itself: the cursor's
        # ``description`` would build a Column object for each of them first.
        result = cursor.pgresult
        row = cursor.fetchone() if result is not None and result.nfields else None
        done = True
        return row
    except dbapi_error as exc:
        lost = dialect.is_disconnect(exc, driver, None)
        if lost:
            # As SQLAlchemy does for a statement of its own (Connection._handle_dbapi_exception):
            # every connection made before this one is replaced at its next checkout, as the
            # server most likely dropped them all. Pool has no public name for it.
            engine.pool._invalidate(pooled, exc)  # noqa: SLF001
        raise _as_sqlalchemy_error(dialect, exc, sql, params, lost=lost) from exc
    finally:
        if done and keeps_connections:
            pool.keep_after_statement(pooled)
        else:
            QueueingPool.give_back(pooled)


def insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    """``INSERT INTO table (columns) VALUES (%(column)s, ...)`` for :func:`run_alone`.

    Names come from the table itself (a name that is not one of its columns raises ValueError);
    every value is a bound parameter.
    """
    check_columns(table, columns)
    names = ", ".join(columns)
    placeholders = ", ".join(f"%({name})s" for name in columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})"  # noqa: S608


def check_columns(table: Table, columns: tuple[str, ...]) -> None:
    """ValueError unless every name is one of ``table``'s columns: SQL written for
    :func:`run_alone` takes its names from the table itself, never from elsewhere."""
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")


def in_utc(value: Any) -> Any:
    """A value read through :func:`run_alone`, with a timestamp in UTC: psycopg gives timestamps
    in the connection's time zone, the service's are UTC (``UTCDateTime``)."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _as_sqlalchemy_error(
    dialect: Any, exc: Exception, sql: str, params: Mapping[str, Any], *, lost: bool
) -> DBAPIError:
    return DBAPIError.instance(
        sql,
        dict(params),
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,  # a donor's email is a parameter: never in a log line
        connection_invalidated=lost,
        dialect=dialect,
    )
