"""Ledger fixtures: real donations with real sandbox sessions, a live server for real deliveries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from service import create_app, extensions
from service.appeals import SEED_FILE, load_file
from service.donations import DonationRequest, create_donation
from service.donations.models import Donation
from service.models import Payment, Payout, WebhookEvent
from service.settings import Settings
from service.tables import Base
from tests.conftest import TEST_WEBHOOK_SECRET


@dataclass
class Ledger:
    """Reads the ledger through a fresh session each time, as finance would."""

    app: Flask

    def _session(self) -> Any:
        return extensions.database(self.app).sessionmaker()

    def donation(self, donation_id: str) -> Donation:
        with self._session() as db:
            found = db.get(Donation, donation_id)
            assert found is not None
            return found

    def payments(self, donation_id: str | None = None) -> list[Payment]:
        with self._session() as db:
            query = select(Payment).order_by(Payment.id)
            if donation_id:
                query = query.where(Payment.donation_id == donation_id)
            return list(db.scalars(query))

    def events(self, **where: Any) -> list[WebhookEvent]:
        with self._session() as db:
            query = select(WebhookEvent).order_by(WebhookEvent.id)
            for name, value in where.items():
                query = query.where(getattr(WebhookEvent, name) == value)
            return list(db.scalars(query))

    def event(self, stripe_event_id: str) -> WebhookEvent:
        (found,) = self.events(stripe_event_id=stripe_event_id)
        return found

    def payouts(self) -> list[Payout]:
        with self._session() as db:
            return list(db.scalars(select(Payout).order_by(Payout.id)))


@pytest.fixture(scope="session")
def _apps() -> Iterator[dict[str, Flask]]:
    built: dict[str, Flask] = {}
    yield built
    for application in built.values():
        extensions.database(application).engine.dispose()


@pytest.fixture
def app(settings: Settings, sandbox: Any, _apps: dict[str, Flask]) -> Flask:
    """The root ``app`` fixture's clean state, on one app per backend (building one costs ~0.3 s).

    Tests that need different settings or break the database build their own app.
    """
    application = _apps.get(settings.database_url)
    if application is None:
        application = _apps[settings.database_url] = create_app({"TESTING": True}, settings=settings)
    extensions.forget_webhook_rejections(application)
    sandbox.control.reset()
    with extensions.database(application).sessionmaker.begin() as db:
        for table in reversed(Base.metadata.sorted_tables):
            db.execute(table.delete())
        load_file(db, SEED_FILE)
    return application


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


@pytest.fixture
def make_donation(app: Flask) -> Callable[..., Donation]:
    """A donation created the real way, with its Checkout Session in the sandbox."""

    def make(amount: int = 2500, currency: str = "gbp", frequency: str = "one_off") -> Donation:
        with app.app_context():
            db = extensions.database(app).sessionmaker()
            try:
                request = DonationRequest(appeal="red-cross-ukraine", amount=amount, currency=currency,
                                          frequency=frequency, email="donor@example.org")  # fmt: skip
                donation, _ = create_donation(
                    db, extensions.stripe_gateway(app), extensions.settings(app), request
                )
                return donation
            finally:
                db.close()

    return make


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(app: Flask, sandbox: Any) -> Iterator[LiveServer]:
    """The app on a free port, with the sandbox delivering signed webhooks to it."""
    with serving_webhooks(app, sandbox) as url:
        yield LiveServer(url, app)


@contextmanager
def serving_webhooks(app: Flask, sandbox: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port and point the sandbox's webhooks at it; yields the URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    sandbox.control.configure_webhooks(urls=[f"{url}/webhooks/stripe"], secrets=[TEST_WEBHOOK_SECRET])
    try:
        yield url
    finally:
        sandbox.control.configure_webhooks(urls=[], duplicate=False, out_of_order=False, delay=0)
        sandbox.control.wait_for_webhooks(timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
