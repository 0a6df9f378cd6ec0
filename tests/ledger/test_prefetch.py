"""Stripe is asked before the event's locks are taken; a failed prefetch is simply asked again."""

from __future__ import annotations

import pytest

from service.ledger.prefetch import PrefetchingGateway
from service.stripe_gateway import StripeGatewayError

from . import payloads


class FakeGateway:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def payout_balance_transactions(self, payout_id: str) -> list[dict]:
        self.calls.append(("payout_balance_transactions", payout_id))
        if self.fail:
            raise StripeGatewayError("unavailable", None, "down")
        return [{"id": "txn_1", "type": "charge", "source": "ch_1"}]

    def retrieve_subscription(self, subscription_id: str) -> dict:
        self.calls.append(("retrieve_subscription", subscription_id))
        return {"id": subscription_id, "status": "past_due"}


def payout_event() -> dict:
    return payloads.event("payout.paid", {"id": "po_1", "object": "payout", "status": "paid"})


def test_warmed_answers_come_from_the_cache():
    fake = FakeGateway()
    reader = PrefetchingGateway(fake)  # type: ignore[arg-type]
    reader.warm(payout_event())
    assert reader.payout_balance_transactions("po_1")[0]["id"] == "txn_1"
    assert fake.calls == [("payout_balance_transactions", "po_1")]


def test_a_failed_prefetch_is_asked_again_and_its_error_surfaces():
    fake = FakeGateway(fail=True)
    reader = PrefetchingGateway(fake)  # type: ignore[arg-type]
    reader.warm(payout_event())
    with pytest.raises(StripeGatewayError):
        reader.payout_balance_transactions("po_1")
    assert len(fake.calls) == 2


def test_events_needing_nothing_from_stripe_fetch_nothing():
    fake = FakeGateway()
    PrefetchingGateway(fake).warm(payloads.event("checkout.session.completed", {"id": "cs_1"}))  # type: ignore[arg-type]
    assert fake.calls == []


class InvoiceGateway:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def invoice_payments(self, invoice_id: str) -> list[dict]:
        self.calls.append(("invoice_payments", invoice_id))
        return [{"status": "paid", "payment": {"type": "payment_intent", "payment_intent": "pi_9"}}]

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict]:
        self.calls.append(("charges_for_payment_intent", payment_intent_id))
        return [{"id": "ch_9", "status": "succeeded"}]


def test_a_live_invoice_event_prefetches_its_payment_then_its_charge():
    """Live invoice events carry no payments: the Invoice Payments API answer leads to the charge."""
    fake = InvoiceGateway()
    reader = PrefetchingGateway(fake)  # type: ignore[arg-type]
    reader.warm(payloads.event("invoice.paid", {"id": "in_9", "object": "invoice"}))
    assert fake.calls == [("invoice_payments", "in_9"), ("charges_for_payment_intent", "pi_9")]
    assert reader.invoice_payments("in_9")[0]["payment"]["payment_intent"] == "pi_9"
    assert reader.charges_for_payment_intent("pi_9")[0]["id"] == "ch_9"
    assert len(fake.calls) == 2


def test_a_manual_payout_prefetches_nothing():
    fake = FakeGateway()
    manual = {"id": "po_2", "object": "payout", "status": "paid", "automatic": False}
    PrefetchingGateway(fake).warm(payloads.event("payout.paid", manual))  # type: ignore[arg-type]
    assert fake.calls == []
