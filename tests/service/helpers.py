"""Small helpers shared by service tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from service import extensions
from service.donations.models import Donation

VALID = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp"}


def donation_count(app: Any) -> int:
    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            return session.scalar(select(func.count()).select_from(Donation)) or 0
        finally:
            session.close()


def session_creates(sandbox: Any) -> list[dict[str, Any]]:
    """Checkout Session create calls the sandbox received, oldest first."""
    return sandbox.control.requests(path="/v1/checkout/sessions", method="POST")


def load_donation(app: Any, donation_id: str) -> Donation:
    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            donation = session.get(Donation, donation_id)
            assert donation is not None
            session.expunge(donation)
            return donation
        finally:
            session.close()
