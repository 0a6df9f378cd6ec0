"""Baselines measured in the same run as the service, under the same gunicorn settings.

    gunicorn --config gunicorn.conf.py bench.baseline_app:app

* ``GET /hello``: a bare Flask view, the framework's ceiling on this machine.
* ``POST /session``: the least any Stripe integration can do per donation: one Checkout Session
  created through one shared ``stripe.StripeClient`` (kept-alive ``requests.Session``), no
  validation, no database, no logging. The service's donation path is compared with this floor.
"""

from __future__ import annotations

import os
import uuid

import requests
import stripe
from flask import Flask, jsonify

app = Flask(__name__)

_http = requests.Session()
_http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=256))
_client = stripe.StripeClient(
    "sk_test_sandbox",
    base_addresses={"api": os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")},
    http_client=stripe.RequestsClient(timeout=10, session=_http),
    max_network_retries=0,
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


@app.get("/hello")
def hello() -> str:
    return "hello"


@app.post("/session")
def session() -> tuple[object, int]:
    created = _client.v1.checkout.sessions.create(
        params=_PARAMS,  # type: ignore[arg-type]
        options={"idempotency_key": uuid.uuid4().hex},
    )
    return jsonify(id=created.id, url=created.url), 201
