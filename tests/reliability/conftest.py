"""Fixtures for reliability tests: apps with overridden settings, and the service under a real
HTTP server (Werkzeug in a thread, or gunicorn in a subprocess) for what the test client cannot
show: chunked bodies, killed workers, metrics across worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service import create_app, extensions
from service.settings import Settings

from .servers import GunicornServer, ThreadedServer


@pytest.fixture
def make_app(app: Any, settings: Settings) -> Iterator[Callable[..., Any]]:
    """Build another app on the same seeded database with some settings changed."""
    made: list[Any] = []

    def build(**overrides: Any) -> Any:
        application = create_app({"TESTING": True}, settings=settings.with_overrides(**overrides))
        made.append(application)
        return application

    yield build
    for application in made:
        extensions.database(application).engine.dispose()


@pytest.fixture
def live_server(app: Any) -> Iterator[ThreadedServer]:
    """The ``app`` fixture served by Werkzeug's threaded server on a free port."""
    server = ThreadedServer(app)
    yield server
    server.stop()


@pytest.fixture
def gunicorn(settings: Settings, tmp_path: Any, app: Any) -> Iterator[Callable[..., GunicornServer]]:
    """Start the service under gunicorn with the repository's gunicorn.conf.py."""
    started: list[GunicornServer] = []

    def start(**env: str) -> GunicornServer:
        server = GunicornServer(settings, tmp_path, env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
