"""Baselines measured in the same run as the service, under the same gunicorn settings.

    gunicorn --config gunicorn.conf.py bench.baseline_app:app

* ``GET /hello``: a bare Flask view, the framework's ceiling on this machine (the progress
  endpoint's baseline).
* ``POST /session``: a plain Stripe Checkout integration as Stripe's own samples write it: one
  Checkout Session per request through stripe-python's *default* HTTP client (one shared
  ``StripeClient``, nothing tuned), no validation, no database, no logging, answered with a 303
  to the session's URL. The service's donation path is compared with it.
* ``POST /webhooks/stripe``: a minimal webhook endpoint: stripe-python verifies the signature
  (``stripe.Webhook.construct_event``, as Stripe's samples do) and one row is inserted into
  ``baseline_webhook_events`` (id, type, payload), in the same PostgreSQL database as the
  service's, through a SQLAlchemy pool of the same size. The service's webhook ingestion is
  compared with it.
"""

from __future__ import annotations

import os

import stripe
from flask import Flask, abort, redirect, request
from sqlalchemy import create_engine, text

app = Flask(__name__)

_client = stripe.StripeClient(
    "sk_test_sandbox", base_addresses={"api": os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")}
)
_PARAMS = {
    "mode": "payment",
    "success_url": "http://127.0.0.1:5000/thanks?session_id={CHECKOUT_SESSION_ID}",
    "line_items": [
        {
            "price_data": {"currency": "gbp", "unit_amount": 2500, "product_data": {"name": "Donation"}},
            "quantity": 1,
        }
    ],
}
_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
_DATABASE_URL = os.environ.get("DATABASE_URL", "")
_engine = (
    create_engine(_DATABASE_URL, pool_size=int(os.environ.get("DATABASE_POOL_SIZE", "10")), max_overflow=0)
    if _DATABASE_URL.startswith("postgresql")
    else None
)
_INSERT = text(
    "INSERT INTO baseline_webhook_events (id, type, payload) VALUES (:id, :type, :payload) "
    "ON CONFLICT (id) DO NOTHING"
)


def create_table(database_url: str) -> None:
    """The baseline's one table, empty (bench/run.py calls this before the run)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS baseline_webhook_events"))
        conn.execute(
            text(
                "CREATE TABLE baseline_webhook_events (id text PRIMARY KEY, type text NOT NULL, "
                "payload text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"
            )
        )
    engine.dispose()


@app.get("/hello")
def hello() -> str:
    return "hello"


@app.post("/session")
def session() -> object:
    created = _client.v1.checkout.sessions.create(params=_PARAMS)  # type: ignore[arg-type]
    return redirect(created.url, 303)


@app.post("/webhooks/stripe")
def webhook() -> tuple[str, int]:
    payload = request.get_data()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("Stripe-Signature", ""), _WEBHOOK_SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        abort(400)
    assert _engine is not None, "the webhook baseline needs PostgreSQL"
    with _engine.begin() as conn:
        conn.execute(_INSERT, {"id": event.id, "type": event.type, "payload": payload.decode()})
    return "", 200
