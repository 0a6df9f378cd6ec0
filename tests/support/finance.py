"""Finance helpers: a token's header, donations made through the API, their stored rows."""

from __future__ import annotations

from typing import Any

from flask import Flask

from service import extensions
from service.donations.models import Donation


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def donate(client: Any, amount: int, currency: str = "gbp", frequency: str = "one_off",
           source: dict[str, str] | None = None) -> str:  # fmt: skip
    """POST a donation to the red-cross-ukraine appeal; returns its id."""
    body = {"appeal": "red-cross-ukraine", "amount": amount, "currency": currency, "frequency": frequency,
            "email": "donor@example.org", "source": source or {"utm_source": "guardian"}}  # fmt: skip
    response = client.post("/api/v1/donations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def stored_donation(app: Flask, donation_id: str) -> Any:
    """The donation's row as stored now (its Checkout Session, PaymentIntent, subscription ids)."""
    with extensions.database(app).sessionmaker() as db:
        return db.get(Donation, donation_id)
