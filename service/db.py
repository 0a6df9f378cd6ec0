"""Database engine and the per-request session.

Plain SQLAlchemy 2: one engine per app, sessions from a sessionmaker. Request handlers get the
session bound to the current app context through :func:`session`; domain code takes a
``Session`` argument so a test or a CLI command can call it without a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

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
    return create_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=5,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def init_app(app: Flask, settings: Settings) -> Database:
    database = Database(settings)
    app.extensions["database"] = database
    app.teardown_appcontext(_close_session)
    return database


def database() -> Database:
    return current_app.extensions["database"]


def session() -> Session:
    """The session for the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
