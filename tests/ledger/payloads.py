"""Hand-built Stripe events shaped like Stripe's own fixtures (sandbox/fixtures/fixtures3.json)."""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox.delivery import signature_header
from sandbox.fixtures import template
from sandbox.ids import new_id
from service.donations.models import Donation
from service.stripe_gateway import API_VERSION
from tests.support.settings import TEST_WEBHOOK_SECRET

Obj = dict[str, Any]


def event(type_: str, obj: Obj, *, livemode: bool = False, created: int | None = None, **extra: Any) -> Obj:
    built = template(
        "event",
        id=extra.pop("id", None) or new_id("evt"),
        type=type_,
        api_version=API_VERSION,
        created=created or int(time.time()),
        data={"object": obj},
        request={"id": None, "idempotency_key": None},
        **extra,
    )
    built["livemode"] = livemode
    return built


def metadata(donation: Donation, deployment: str = "donation-router") -> dict[str, str]:
    return {"donation_id": donation.id, "appeal": "red-cross-ukraine", "deployment": deployment,
            "frequency": donation.frequency}  # fmt: skip


def session(
    donation: Donation, *, status: str = "complete", payment_status: str = "paid", **overrides: Any
) -> Obj:
    monthly = donation.frequency == "monthly"
    fields: Obj = {
        "id": donation.stripe_checkout_session_id,
        "amount_total": donation.amount,
        "amount_subtotal": donation.amount,
        "currency": donation.currency,
        "metadata": metadata(donation),
        "client_reference_id": donation.id,
        "mode": "subscription" if monthly else "payment",
        "status": status,
        "payment_status": payment_status,
        "payment_intent": None if monthly else "pi_" + donation.id[4:],
        "subscription": "sub_" + donation.id[4:] if monthly else None,
        "customer": None,
        "expires_at": int(time.time()) + 3600,
        "url": None,
    }
    fields.update(overrides)
    return template("checkout.session", **fields)


def charge(
    donation: Donation, *, amount_refunded: int = 0, balance_transaction: Any = None, **overrides: Any
) -> Obj:
    fields: Obj = {
        "id": "ch_" + donation.id[4:],
        "amount": donation.amount,
        "amount_captured": donation.amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= donation.amount,
        "currency": donation.currency,
        "metadata": metadata(donation),
        "payment_intent": "pi_" + donation.id[4:],
        "status": "succeeded",
        "paid": True,
        "disputed": False,
        "balance_transaction": balance_transaction,
        "customer": None,
        "created": int(time.time()),
    }
    fields.update(overrides)
    return template("charge", **fields)


def balance_transaction(amount: int, currency: str, fee: int, **overrides: Any) -> Obj:
    fields: Obj = {"id": new_id("txn"), "amount": amount, "currency": currency, "fee": fee,
                   "net": amount - fee, "type": "charge"}  # fmt: skip
    fields.update(overrides)
    return template("balance_transaction", **fields)


def dispute(donation: Donation, status: str, **overrides: Any) -> Obj:
    fields: Obj = {"id": "dp_" + donation.id[4:], "amount": donation.amount, "currency": donation.currency,
                   "charge": "ch_" + donation.id[4:], "payment_intent": "pi_" + donation.id[4:],
                   "status": status, "metadata": {}}  # fmt: skip
    fields.update(overrides)
    return template("dispute", **fields)


def body(evt: Obj) -> bytes:
    return json.dumps(evt, indent=2).encode("utf-8")


def headers(
    payload: bytes, *, secrets: tuple[str, ...] = (TEST_WEBHOOK_SECRET,), at: float | None = None
) -> dict:
    return {
        "Stripe-Signature": signature_header(payload, list(secrets), None if at is None else int(at)),
        "Content-Type": "application/json; charset=utf-8",
    }


def post(client: Any, evt: Obj, **kwargs: Any) -> Any:
    payload = body(evt)
    return client.post("/webhooks/stripe", data=payload, headers=headers(payload, **kwargs))
