"""Asking Stripe before taking locks, so no database lock is held while Stripe is slow.

Some events need a fact from Stripe (a payout's balance transactions, a charge's fee, a
subscription's current status). :class:`PrefetchingGateway` makes those calls before the event's
transaction starts and answers the apply functions from what it fetched; anything it did not
fetch, or failed to fetch, still goes to Stripe, so the result is the same either way.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from ..stripe_gateway import StripeGateway, StripeGatewayError
from .apply_billing import invoice_payment_intent, paid_intent
from .apply_context import id_of

REFUND_EVENTS = ("refund.failed", "refund.updated", "charge.refund.updated")


class PrefetchingGateway:
    """The read methods the apply functions use, answered from a per-event cache when possible."""

    def __init__(self, gateway: StripeGateway):
        self.gateway = gateway
        self._cache: dict[tuple[str, str], Any] = {}

    def _get(self, method: str, key: str) -> Any:
        if (method, key) in self._cache:
            return self._cache[(method, key)]
        return getattr(self.gateway, method)(key)

    def _warm(self, method: str, key: str) -> None:
        # On failure the apply function asks again and decides what the failure means.
        with suppress(StripeGatewayError):
            self._cache[(method, key)] = getattr(self.gateway, method)(key)

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        return self._get("charges_for_payment_intent", payment_intent_id)

    def retrieve_balance_transaction(self, transaction_id: str) -> dict[str, Any]:
        return self._get("retrieve_balance_transaction", transaction_id)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._get("retrieve_subscription", subscription_id)

    def payout_balance_transactions(self, payout_id: str, account: str | None = None) -> list[dict[str, Any]]:
        if account:  # a connected account's payout: never prefetched (see prefetch_call)
            return self.gateway.payout_balance_transactions(payout_id, account)
        return self._get("payout_balance_transactions", payout_id)

    def retrieve_transfer(self, transfer_id: str) -> dict[str, Any]:
        return self._get("retrieve_transfer", transfer_id)

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        return self._get("invoice_payments", invoice_id)

    def refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]:
        return self._get("refunds_for_charge", charge_id)

    def warm(self, event: dict[str, Any]) -> None:
        """Fetch what applying ``event`` is likely to need (a miss only costs a later call)."""
        call = prefetch_call(event)
        if call is not None:
            self._warm(*call)
            if call[0] == "invoice_payments":
                # Live invoice events do not name their payment: the charge lookup follows the answer.
                intent = paid_intent(self._cache.get(call) or [])
                if intent:
                    self._warm("charges_for_payment_intent", intent)
        # A destination charge (Connect appeal) names its transfer to the charity: read it too,
        # so recording it takes no Stripe call while the donation's row is locked.
        obj = (event.get("data") or {}).get("object") or {}
        kind = str(event.get("type", ""))
        if kind.startswith("charge.") and not kind.startswith("charge.dispute."):
            transfer = obj.get("transfer")
            if isinstance(transfer, str) and transfer:
                self._warm("retrieve_transfer", transfer)


def prefetch_call(event: dict[str, Any]) -> tuple[str, str] | None:
    """The Stripe read applying ``event`` is likely to need, or None (most events need none)."""
    obj = (event.get("data") or {}).get("object") or {}
    kind = str(event.get("type", ""))
    if kind.startswith("charge.dispute."):
        method, key = "charges_for_payment_intent", id_of(obj.get("payment_intent"))
    elif kind.startswith("charge.") and isinstance(obj.get("balance_transaction"), str):
        method, key = "retrieve_balance_transaction", obj["balance_transaction"]
    elif kind == "invoice.paid":
        intent = invoice_payment_intent(obj)
        method, key = (
            ("charges_for_payment_intent", intent) if intent else ("invoice_payments", id_of(obj.get("id")))
        )
    elif kind in REFUND_EVENTS and obj.get("status") in ("failed", "canceled"):
        method, key = "refunds_for_charge", id_of(obj.get("charge"))
    elif kind == "customer.subscription.updated":
        method, key = "retrieve_subscription", id_of(obj.get("id"))
    elif (
        kind in ("payout.paid", "payout.reconciliation_completed")
        and not event.get("account")
        and obj.get("automatic") is not False
    ):
        method, key = "payout_balance_transactions", id_of(obj.get("id"))
    else:
        return None
    return (method, key) if key else None
