"""Reading the ledger as finance would: a fresh session for every question (the ``ledger`` fixture);
waiting for the sandbox's webhook deliveries; a donation's stored row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask
from sqlalchemy import select

from service import extensions
from service.donations.models import Donation
from service.models import Payment, Payout, WebhookEvent
from tests.ledger.payloads import post


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


def delivered(sandbox: Any) -> None:
    assert sandbox.control.wait_for_webhooks(timeout=20), "webhook deliveries did not finish"


def donation_row(app: Any, donation_id: str) -> Donation:
    with extensions.database(app).sessionmaker() as db:
        found = db.get(Donation, donation_id)
        assert found is not None
        return found


def deliver_all_events(client: Any, sandbox: Any, *, strip_session_metadata: bool = False) -> None:
    """Deliver every event the payment produced, oldest first, signed as Stripe signs them."""
    listed = requests.get(
        f"{sandbox.base_url}/v1/events", params={"limit": 100}, auth=("sk_test_suite", ""), timeout=5
    )
    events = listed.json()["data"]
    for event in reversed(events):
        if strip_session_metadata and event["type"].startswith("checkout.session."):
            event["data"]["object"]["metadata"] = {}
        assert post(client, event).status_code == 200
