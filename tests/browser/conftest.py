"""Headless Chromium (Debian's, driven by Playwright) against the service on a real socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import make_server

from service import create_app, extensions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    app: Any


@pytest.fixture
def live_server(app: Any, settings: Any) -> Iterator[LiveServer]:
    """The app on a free loopback port, with PUBLIC_BASE_URL pointing at it so Stripe redirects back."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live_app = create_app({"TESTING": True}, settings=settings.with_overrides(public_base_url=url))
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(url, live_app)
    server.shutdown()
    thread.join(timeout=5)
    extensions.database(live_app).engine.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
