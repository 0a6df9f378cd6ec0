"""Checkout's dynamic payment methods in the sandbox: the Dashboard's set less what is excluded."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import stripe

from sandbox.control_client import SandboxError
from tests.support.sandbox_params import session_params


def euros(**overrides: Any) -> dict[str, Any]:
    params = session_params(**overrides)
    params["line_items"][0]["price_data"]["currency"] = "eur"
    return params


def test_sessions_offer_the_dashboard_set_less_exclusions(stripe_client: Any) -> None:
    client = stripe_client
    assert client.v1.checkout.sessions.create(params=session_params()).payment_method_types == [
        "card", "bacs_debit"
    ]  # fmt: skip
    assert client.v1.checkout.sessions.create(params=euros()).payment_method_types == ["card", "sepa_debit"]
    filtered = client.v1.checkout.sessions.create(params=euros(excluded_payment_method_types=["sepa_debit"]))
    assert filtered.payment_method_types == ["card"]
    allowed = client.v1.checkout.sessions.create(params=euros(allowed_payment_method_types=["sepa_debit"]))
    assert allowed.payment_method_types == ["sepa_debit"]


def test_nothing_left_to_offer_is_refused(stripe_client: Any) -> None:
    client = stripe_client
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=euros(excluded_payment_method_types=["card", "sepa_debit"]))
    assert caught.value.param == "excluded_payment_method_types"


def test_allowed_and_excluded_together_are_refused(stripe_client: Any) -> None:
    """Stripe: allowed_payment_method_types "is mutually exclusive with ... excluded_payment_method_types"."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.create(
            params=session_params(
                allowed_payment_method_types=["bacs_debit"], excluded_payment_method_types=["card"]
            )
        )
    assert caught.value.param == "allowed_payment_method_types"


def test_an_excluded_debit_cannot_be_paid_and_is_not_on_the_page(stripe_client: Any, sandbox: Any) -> None:
    client, control = stripe_client, sandbox.control
    session = client.v1.checkout.sessions.create(
        params=session_params(excluded_payment_method_types=["bacs_debit"])
    )
    with pytest.raises(SandboxError) as caught:
        control.complete_session(session.id, "async")
    assert "does not offer a bank debit" in str(caught.value)
    page = requests.get(session.url, timeout=5).text
    assert "Bank debit" not in page
    offered = client.v1.checkout.sessions.create(params=session_params())
    assert "Bank debit" in requests.get(offered.url, timeout=5).text


def _charge(client: Any, session_id: str) -> Any:
    intent = client.v1.checkout.sessions.retrieve(session_id).payment_intent
    [charge] = client.v1.charges.list(params={"payment_intent": intent}).data
    return charge


def test_a_debit_carries_its_mandate_and_collection_date_and_a_refusal_ends_the_mandate(
    stripe_client: Any, sandbox: Any
) -> None:
    client = stripe_client
    session = client.v1.checkout.sessions.create(params=session_params())  # pounds: Bacs
    sandbox.control.complete_session(session.id, "async")
    charge = _charge(client, session.id)
    details = charge.payment_method_details.bacs_debit
    assert charge.status == "pending" and details.last4 == "3000"
    assert details.expected_debit_date > datetime.fromtimestamp(charge.created, UTC).date().isoformat()
    mandate = client.v1.mandates.retrieve(details.mandate)
    assert (mandate.status, mandate.type, mandate.payment_method) == (
        "active",
        "multi_use",
        charge.payment_method,
    )
    assert mandate.payment_method_details.type == "bacs_debit"

    sandbox.control.settle_async_payment(session.id, "failed")
    assert client.v1.mandates.retrieve(details.mandate).status == "inactive"
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert "mandate.updated" in types and "checkout.session.async_payment_failed" in types
    assert types.index("mandate.updated") > types.index(
        "checkout.session.async_payment_failed"
    )  # newest first


def test_the_debit_settles_by_itself_on_the_sandboxs_compressed_clock(
    stripe_client: Any, sandbox: Any
) -> None:
    """Days at the bank become a fraction of a second (``async_settle_seconds``)."""
    sandbox.control.configure(async_settle_seconds=0.1)
    euros_session = stripe_client.v1.checkout.sessions.create(params=euros())
    sandbox.control.complete_session(euros_session.id, "async", async_outcome="failed")
    deadline = time.monotonic() + 5
    while stripe_client.v1.checkout.sessions.retrieve(euros_session.id).payment_status == "unpaid":
        if _charge(stripe_client, euros_session.id).status == "failed":
            break
        assert time.monotonic() < deadline, "the debit never settled"
        time.sleep(0.05)
    assert _charge(stripe_client, euros_session.id).status == "failed"


def test_the_bank_clock_settles_debits_when_their_days_have_passed(stripe_client: Any, sandbox: Any) -> None:
    """Days at the bank compressed to a call: a SEPA debit (8 business days) and a monthly Bacs
    gift's first debit (7) stay processing until that much bank time has passed, then settle as
    chosen when paid."""
    from tests.support.sandbox_params import monthly_params

    client, control = stripe_client, sandbox.control
    sepa = client.v1.checkout.sessions.create(params=euros())
    control.complete_session(sepa.id, "async", async_outcome="failed")
    bacs = client.v1.checkout.sessions.create(
        params=monthly_params(allowed_payment_method_types=["bacs_debit"])
    )
    control.complete_session(bacs.id, "async")
    assert control.advance_bank_clock(3)["settled"] == []
    assert client.v1.checkout.sessions.retrieve(bacs.id).payment_status == "unpaid"
    settled = control.advance_bank_clock(10)
    assert sorted(settled["settled"]) == sorted([sepa.id, bacs.id]) and settled["offset_days"] == 13
    assert client.v1.checkout.sessions.retrieve(bacs.id).payment_status == "paid"
    assert client.v1.subscriptions.retrieve(
        client.v1.checkout.sessions.retrieve(bacs.id).subscription
    ).status == ("active")
    intent = client.v1.checkout.sessions.retrieve(sepa.id).payment_intent
    assert client.v1.payment_intents.retrieve(intent).status == "requires_payment_method"
    assert control.advance_bank_clock(30)["settled"] == []  # nothing settles twice
    with pytest.raises(SandboxError):
        control.advance_bank_clock(0)


def _monthly_debit(client: Any, control: Any, currency: str) -> str:
    """A monthly gift by Bacs (pounds) or SEPA (euros) whose first debit has been paid."""
    from tests.support.sandbox_params import monthly_params

    params = monthly_params(
        allowed_payment_method_types=[{"gbp": "bacs_debit", "eur": "sepa_debit"}[currency]]
    )
    params["line_items"][0]["price_data"]["currency"] = currency
    session = client.v1.checkout.sessions.create(params=params)
    control.complete_session(session.id, "async")
    control.settle_async_payment(session.id, "succeeded")
    return client.v1.checkout.sessions.retrieve(session.id).subscription


def _renewal_intent(client: Any, invoice_id: str) -> Any:
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice_id}).data
    return client.v1.payment_intents.retrieve(payment.payment.payment_intent)


def _types_since(client: Any, event_id: str) -> list[str]:
    """Event types after ``event_id``, oldest first."""
    listed = client.v1.events.list(params={"limit": 100}).data
    ids = [e.id for e in listed]
    return [e.type for e in reversed(listed[: ids.index(event_id)])]


def test_a_debit_renewal_processes_until_the_banks_days_have_passed(stripe_client: Any, sandbox: Any) -> None:
    """Live Stripe: a Bacs renewal's invoice stays open, its PaymentIntent processing and charge
    pending, for 4 business days (a mandate in place); then it is paid."""
    client, control = stripe_client, sandbox.control
    subscription = _monthly_debit(client, control, "gbp")
    last = client.v1.events.list(params={"limit": 1}).data[0].id
    renewal = control.advance_subscription(subscription, "paid")
    assert (renewal["status"], renewal["amount_paid"], renewal["billing_reason"]) == (
        "open", 0, "subscription_cycle"
    )  # fmt: skip
    intent = _renewal_intent(client, renewal["id"])
    assert (intent.status, intent.payment_method_types) == ("processing", ["bacs_debit"])
    (charge,) = client.v1.charges.list(params={"payment_intent": intent.id}).data
    assert charge.status == "pending" and charge.payment_method_details.bacs_debit.mandate
    assert client.v1.subscriptions.retrieve(subscription).status == "active"
    started = _types_since(client, last)
    assert "charge.pending" in started and "payment_intent.processing" in started
    assert not {"invoice.paid", "charge.succeeded", "invoice.payment_failed"} & set(started)
    with pytest.raises(SandboxError):  # nothing to retry while the bank has the debit
        control.retry_invoice(renewal["id"], "paid")

    last = client.v1.events.list(params={"limit": 1}).data[0].id
    assert control.advance_bank_clock(1)["settled"] == []
    assert client.v1.invoices.retrieve(renewal["id"]).status == "open"
    assert control.advance_bank_clock(6)["settled"] == [renewal["id"]]
    paid = client.v1.invoices.retrieve(renewal["id"])
    assert (paid.status, paid.amount_paid) == ("paid", paid.amount_due)
    assert _renewal_intent(client, renewal["id"]).status == "succeeded"
    settled = _types_since(client, last)
    assert [t for t in settled if t in ("charge.succeeded", "payment_intent.succeeded", "invoice.paid")] == [
        "charge.succeeded", "payment_intent.succeeded", "invoice.paid"
    ]  # fmt: skip
    assert client.v1.subscriptions.retrieve(subscription).status == "active"
    assert control.advance_bank_clock(30)["settled"] == []  # nothing settles twice
    with pytest.raises(SandboxError):
        control.settle_invoice_debit(renewal["id"])


def test_a_refused_debit_renewal_makes_the_gift_past_due_and_stripe_retries(
    stripe_client: Any, sandbox: Any
) -> None:
    client, control = stripe_client, sandbox.control
    subscription = _monthly_debit(client, control, "eur")
    renewal = control.advance_subscription(subscription, "failed")
    assert renewal["status"] == "open"
    assert client.v1.subscriptions.retrieve(subscription).status == "active"  # not yet known
    last = client.v1.events.list(params={"limit": 1}).data[0].id
    refused = control.settle_invoice_debit(renewal["id"])  # as chosen: failed
    assert refused["status"] == "open" and refused["next_payment_attempt"] > time.time()
    assert client.v1.subscriptions.retrieve(subscription).status == "past_due"
    intent = _renewal_intent(client, renewal["id"])
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "debit_not_authorized"
    types = _types_since(client, last)
    assert [t for t in types if t in ("charge.failed", "payment_intent.payment_failed", "invoice.payment_failed")] == [
        "charge.failed", "payment_intent.payment_failed", "invoice.payment_failed"
    ]  # fmt: skip
    assert "mandate.updated" in types and "customer.subscription.updated" in types
    # The bank cancelled the mandate: Stripe's retry cannot debit it.
    assert control.retry_invoice(renewal["id"], "paid")["status"] == "open"
