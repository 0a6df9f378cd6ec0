"""Checkout Session parameters for the sandbox's own tests: a typical one-off gift and a monthly one."""

from __future__ import annotations

from typing import Any


def session_params(**overrides: Any) -> dict[str, Any]:
    """A typical donation: £5 to one appeal, hosted page."""
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "https://donate.example/thanks?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://donate.example/appeal/gaza",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": 500,
                    "product_data": {"name": "Gaza emergency appeal"},
                },
            }
        ],
        "metadata": {"appeal_id": "gaza-2026"},
        "client_reference_id": "donation-123",
    }
    params.update(overrides)
    return params


def monthly_params(**overrides: Any) -> dict[str, Any]:
    params = session_params(**overrides)
    params["mode"] = "subscription"
    params["line_items"][0]["price_data"]["recurring"] = {"interval": "month"}
    params.setdefault("subscription_data", {"metadata": {"appeal_id": "gaza-2026"}})
    return params
