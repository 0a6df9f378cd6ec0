"""Lifecycle fixtures: a real SMTP server, and an app that sends its mail there."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.lifecycle.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app: Flask, smtp: SmtpServer, make_app: Callable[..., Flask]) -> Flask:
    """An app whose mail goes to ``smtp`` (jobs in-process, as in the demo)."""
    return make_app(mail_url=smtp.url, mail_from="Red Cross <giving@redcross.test>")
