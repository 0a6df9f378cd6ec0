"""Events for every state change, stored, listable and sent to webhook endpoints."""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict
from typing import Any

from sandbox import API_VERSION
from sandbox.delivery import Deliverer, DeliveryAttempt
from sandbox.fixtures import template
from sandbox.ids import new_id, now
from sandbox.store import Store

# The API request that caused the current state change, if any: Stripe puts its
# id and idempotency key on the event (``request``); automatic changes have none.
_origin = threading.local()
BASIL = "2025-03-31"


def set_origin(request_id: str | None, idempotency_key: str | None) -> None:
    _origin.value = {"id": request_id, "idempotency_key": idempotency_key}


def clear_origin() -> None:
    _origin.value = None


def current_origin() -> dict[str, Any]:
    return getattr(_origin, "value", None) or {"id": None, "idempotency_key": None}


class Events:
    def __init__(
        self,
        store: Store,
        urls: list[str],
        secrets: list[str],
        retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16),
    ) -> None:
        self.store = store
        self.urls = list(urls)
        # The version events are rendered at: an account's default version, or an endpoint
        # created at an older version, gets older shapes (control: configure_webhooks).
        self.api_version = API_VERSION
        self.deliverer = Deliverer(
            self.urls,
            list(secrets),
            retry_delays=retry_delays,
            on_attempt=self._on_attempt,
        )

    def emit(
        self,
        type_: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self._render(copy.deepcopy(obj))}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = template(
            "event",
            id=new_id("evt"),
            api_version=self.api_version,
            created=now(),
            data=data,
            pending_webhooks=len(self.urls),
            request=dict(current_origin()),
            type=type_,
        )
        if account:
            # Events about a connected account's own objects name it, as Connect webhooks do.
            event["account"] = account
        with self.store.lock:
            self.store.add(event)
            self.store.table("deliveries")[event["id"]] = {
                "endpoints": list(self.urls),
                "succeeded": [],
                "attempts": [],
            }
        if self.urls:
            self.deliverer.deliver(copy.deepcopy(event))
        return event

    def _render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` in the shape of ``self.api_version`` where the sandbox knows it differs.

        Before API 2025-03-31.basil an invoice named its subscription and PaymentIntent at the top
        level (``subscription``, ``subscription_details``, ``payment_intent``) and had no ``parent``
        (https://docs.stripe.com/changelog/basil/2025-03-31/add-support-for-multiple-partial-payments-on-invoices).
        """
        if self.api_version[:10] >= BASIL or obj.get("object") != "invoice":
            return obj
        details = (obj.pop("parent", None) or {}).get("subscription_details") or {}
        obj["subscription"] = details.get("subscription")
        obj["subscription_details"] = {"metadata": details.get("metadata") or {}}
        paid = [p for p in self.store.newest_first("invoice_payment") if p["invoice"] == obj.get("id")]
        obj["payment_intent"] = paid[0]["payment"].get("payment_intent") if paid else None
        return obj

    def _on_attempt(self, attempt: DeliveryAttempt) -> None:
        with self.store.lock:
            record = self.store.table("deliveries").get(attempt.event_id)
            event = self.store.get(attempt.event_id)
            if record is None or event is None:
                return  # state was reset while the delivery was in flight
            record["attempts"].append(asdict(attempt))
            if attempt.ok and attempt.url not in record["succeeded"]:
                record["succeeded"].append(attempt.url)
            event["pending_webhooks"] = len([u for u in record["endpoints"] if u not in record["succeeded"]])

    def delivered(self, event_id: str) -> bool:
        """True when every endpoint the event was sent to has acknowledged it."""
        record = self.store.table("deliveries").get(event_id)
        if not record:
            return True
        return all(u in record["succeeded"] for u in record["endpoints"])

    def set_endpoints(self, urls: list[str], secrets: list[str]) -> None:
        self.urls = list(urls)
        self.deliverer.set_endpoints(self.urls, list(secrets))

    def close(self) -> None:
        self.deliverer.close()
