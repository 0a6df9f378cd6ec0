"""Finance helpers: a token's header, signing in to the finance pages, donations made through the
API, their stored rows, and Stripe's own balance transactions."""

from __future__ import annotations

import re
from typing import Any

import requests
from flask import Flask

from service import extensions
from service.donations.models import Donation


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def sign_in(client, secret, next_path=""):
    token = csrf(client.get("/finance/sign-in").get_data(as_text=True))
    return client.post("/finance/sign-in", data={"token": secret, "csrf_token": token, "next": next_path})


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


def stripe_balance(sandbox, **params):
    """Stripe's own balance transactions (all pages), as finance would download them."""
    found, after = [], None
    while True:
        query = {"limit": 100, **params, **({"starting_after": after} if after else {})}
        page = requests.get(f"{sandbox.base_url}/v1/balance_transactions", params=query,
                            auth=("sk_test_suite", ""), timeout=10).json()  # fmt: skip
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]
