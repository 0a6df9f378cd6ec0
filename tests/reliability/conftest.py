"""Fixtures for reliability tests: the service under gunicorn in a subprocess, for what the test
client cannot show (killed workers, metrics across worker processes). Apps with other settings
come from the suite's ``make_app``; Werkzeug in a thread from its ``live_server``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.settings import Settings
from tests.support.servers import GunicornServer


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
