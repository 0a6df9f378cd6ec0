"""Lifecycle fixtures: the ledger's (a clean app, real sandbox donations, live webhooks) plus SMTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ledger.conftest import _apps, app, ledger, live_server, make_donation  # noqa: F401
from tests.lifecycle.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp):  # noqa: F811 - the ledger's app, sending through the suite's SMTP server
    """An app whose mail goes to ``smtp`` (jobs in-process, as in the demo)."""
    from service import create_app

    settings = app.extensions["settings"].with_overrides(
        mail_url=smtp.url, mail_from="Red Cross <giving@redcross.test>"
    )
    built = create_app({"TESTING": True}, settings=settings)
    yield built
    built.extensions["database"].engine.dispose()
    from service.jobs import init_jobs

    init_jobs(app, app.extensions["settings"])
