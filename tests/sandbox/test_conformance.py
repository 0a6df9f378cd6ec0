"""Conformance: every object the sandbox sends has live Stripe's shape.

The sandbox's sent hook (``Sandbox.watch_sent``) records every JSON body it sends, API
answers and webhook payloads alike, while the scenarios below drive it through every
endpoint and control; ``sandbox.conformance.Checker`` then checks every object in every
body against Stripe's ``fixtures3.json`` (keys) and stripe-python 16.1's resource classes
(value types), with includable and expandable fields present or expanded only when the
request asked for them. The test also fails when an API route was never called, or when
the sandbox sends an object type that has no fixture (unless ``NO_FIXTURE`` says why).

How to add a scenario (a new object type, endpoint or live behaviour):

1. Write a function taking a ``World`` and decorate it with ``@scenario``; it drives the
   sandbox as the service or a test would, through ``w.client`` (the real StripeClient),
   ``w.control`` (SandboxControl) or ``w.get``/``w.visit`` for raw HTTP. Ask for
   includable/expandable fields where the service does (``params={"expand": [...]}``) so
   both shapes are checked. Nothing needs asserting: every body it causes is checked.
   For example::

       @scenario
       def transfers(w: World) -> None:
           w.paid_session(payment_intent_data={"transfer_data": {"destination": "acct_1X"}})
           (transfer,) = w.client.v1.transfers.list().data
           w.client.v1.transfers.retrieve(transfer.id, params={"expand": ["destination"]})

2. A new endpoint is covered once some scenario calls it: the test reads the running app's
   routes (``RunningSandbox.api``) and names every one no scenario reaches.
3. An object type with no fixture in fixtures3.json goes in ``NO_FIXTURE`` with the reason.
   Nothing else may be tolerated: fix the sandbox's builder instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import stripe
from werkzeug.exceptions import HTTPException

from sandbox.api import Api
from sandbox.conformance import Checker, Problem, example_ids_in, fixture_example_ids
from sandbox.control_client import SandboxControl
from sandbox.server import RunningSandbox
from tests.support.sandbox_params import monthly_params, session_params

# Object types the sandbox may send although fixtures3.json has none: type -> reason.
NO_FIXTURE: dict[str, str] = {}

# (type, key) -> reason. The ONLY allowance: invoice.payments is includable (Stripe leaves it
# out unless expand[]=payments), but the service still reads it from invoice events.
# h12b-ledger ("invoices without payments", the Invoice Payments API) removes it from the
# sandbox's invoices; the lead deletes this entry when merging that change.
ALLOWANCES: dict[tuple[str, str], str] = {}


@dataclass
class World:
    client: stripe.StripeClient
    control: SandboxControl
    base_url: str

    def get(self, path: str, **params: Any) -> Any:
        """A raw API GET (for query shapes stripe-python would not send)."""
        resp = requests.get(self.base_url + path, params=params, auth=("sk_test_sandbox", ""), timeout=10)
        return resp.json()

    def post_form(self, url: str, form: dict[str, str]) -> requests.Response:
        """Submit a hosted page's form as the donor's browser would."""
        return requests.post(url, data=form, allow_redirects=False, timeout=10)

    def visit(self, url: str) -> requests.Response:
        return requests.get(url, allow_redirects=False, timeout=10)

    def paid_session(self, **overrides: Any) -> Any:
        session = self.client.v1.checkout.sessions.create(params=session_params(**overrides))
        self.control.complete_session(session.id, email="donor@example.org")
        return self.client.v1.checkout.sessions.retrieve(session.id)

    def monthly_session(self) -> Any:
        session = self.client.v1.checkout.sessions.create(params=monthly_params())
        self.control.complete_session(session.id, email="monthly@example.org")
        return self.client.v1.checkout.sessions.retrieve(session.id)


SCENARIOS: dict[str, Callable[[World], None]] = {}


def scenario(fn: Callable[[World], None]) -> Callable[[World], None]:
    SCENARIOS[fn.__name__] = fn
    return fn


# -- the scenarios ------------------------------------------------------------------------


@scenario
def one_off_card_payment(w: World) -> None:
    created = w.client.v1.checkout.sessions.create(params={**session_params(), "expand": ["line_items"]})
    w.control.complete_session(created.id, email="donor@example.org")
    s = w.client.v1.checkout.sessions.retrieve(created.id)
    w.client.v1.checkout.sessions.retrieve(
        s.id,
        params={"expand": ["line_items", "payment_intent.latest_charge.balance_transaction"]},
    )
    w.client.v1.checkout.sessions.list(params={"payment_intent": s.payment_intent})
    w.client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent"]})
    w.client.v1.checkout.sessions.line_items.list(s.id)
    pi = w.client.v1.payment_intents.retrieve(s.payment_intent)
    w.client.v1.payment_intents.list()
    w.client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    w.client.v1.charges.retrieve(pi.latest_charge)
    w.client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["refunds", "balance_transaction"]})
    w.client.v1.charges.list(params={"payment_intent": pi.id})
    charge = w.client.v1.charges.retrieve(pi.latest_charge)
    w.client.v1.balance_transactions.retrieve(charge.balance_transaction)
    w.client.v1.balance_transactions.list(params={"expand": ["data.source"]})


@scenario
def session_variants(w: World) -> None:
    """Every Checkout Session option the service sends: Connect routing and PaymentIntent
    fields, an embedded page, a saved price, an existing customer, submit_type."""
    w.paid_session(
        submit_type="donate",
        customer_email="donor@example.org",
        payment_intent_data={
            "description": "Gift to the Gaza appeal",
            "metadata": {"appeal_id": "gaza-2026"},
            "on_behalf_of": "acct_1Charity000000000",
            "transfer_data": {"destination": "acct_1Charity000000000"},
            "transfer_group": "appeal-gaza",
            "receipt_email": "donor@example.org",
            "statement_descriptor_suffix": "GAZA",
        },
    )
    embedded = session_params(ui_mode="embedded_page", return_url="https://donate.example/r")
    del embedded["success_url"], embedded["cancel_url"]
    w.client.v1.checkout.sessions.create(params=embedded)
    price = w.client.v1.prices.create(
        params={"product_data": {"name": "Saved price"}, "currency": "eur", "unit_amount": 2500}
    )
    s = w.client.v1.checkout.sessions.create(
        params={**session_params(), "line_items": [{"price": price.id, "quantity": 2}]}
    )
    w.control.complete_session(s.id)
    monthly = w.monthly_session()
    again = w.client.v1.checkout.sessions.create(params={**monthly_params(), "customer": monthly.customer})
    w.control.complete_session(again.id)
    w.client.v1.checkout.sessions.list(params={"customer": monthly.customer, "expand": ["data.customer"]})


@scenario
def dynamic_payment_methods(w: World) -> None:
    """The service filters bank debits with excluded_payment_method_types, never lists types."""
    w.client.v1.checkout.sessions.create(params=session_params(excluded_payment_method_types=["bacs_debit"]))
    euros = session_params()
    euros["line_items"][0]["price_data"]["currency"] = "eur"
    sepa = w.client.v1.checkout.sessions.create(params=euros)
    w.control.complete_session(sepa.id, "async", email="iban@example.org")
    w.control.settle_async_payment(sepa.id, "succeeded")
    # A Bacs debit the bank refuses: its mandate goes inactive (mandate.updated).
    bacs = w.client.v1.checkout.sessions.create(params=session_params())
    w.control.complete_session(bacs.id, "async", email="sortcode@example.org")
    w.control.settle_async_payment(bacs.id, "failed")
    for session in (sepa, bacs):
        intent = w.client.v1.checkout.sessions.retrieve(session.id).payment_intent
        [charge] = w.client.v1.charges.list(params={"payment_intent": intent}).data
        kind = charge.payment_method_details.type
        w.client.v1.mandates.retrieve(charge.payment_method_details[kind].mandate)


@scenario
def declined_then_paid(w: World) -> None:
    s = w.client.v1.checkout.sessions.create(params=session_params())
    w.control.complete_session(s.id, "declined")
    w.client.v1.checkout.sessions.retrieve(s.id, params={"expand": ["payment_intent"]})
    w.control.complete_session(s.id)


@scenario
def donor_on_the_hosted_page(w: World) -> None:
    """The donor's own clicks: declined cards, then a good one; a bank debit settled by the
    sandbox's timer (the path the demo and browser tests take)."""
    s = w.client.v1.checkout.sessions.create(params=session_params())
    for number in ("4000 0000 0000 0002", "4000 0000 0000 9995", "4242 4242 4242 4242"):
        w.post_form(s.url, {"method": "card", "card_number": number, "email": "donor@example.org"})
    w.control.configure(async_settle_seconds=0.05)
    debit = w.client.v1.checkout.sessions.create(params=session_params())
    w.post_form(debit.url, {"method": "bank_debit_succeeds", "email": "bank@example.org"})
    w.control.configure(settle_by_timer=False)
    deadline = time.monotonic() + 5
    while w.client.v1.checkout.sessions.retrieve(debit.id).payment_status != "paid":
        assert time.monotonic() < deadline, "the bank debit never settled"
        time.sleep(0.02)


@scenario
def bank_debit_settles(w: World) -> None:
    for outcome in ("succeeded", "failed"):
        s = w.client.v1.checkout.sessions.create(params=session_params())
        w.control.complete_session(s.id, "async", email="bank@example.org")
        w.control.settle_async_payment(s.id, outcome)


@scenario
def sessions_expire(w: World) -> None:
    a = w.client.v1.checkout.sessions.create(params=session_params())
    w.client.v1.checkout.sessions.expire(a.id)
    b = w.client.v1.checkout.sessions.create(params=session_params())
    w.control.expire_session(b.id)
    w.client.v1.checkout.sessions.list(params={"status": "expired"})


@scenario
def refunds(w: World) -> None:
    s = w.paid_session()
    charge = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
    part = w.client.v1.refunds.create(
        params={"charge": charge, "amount": 100, "reason": "requested_by_customer"}
    )
    w.control.refund(charge)
    w.client.v1.refunds.retrieve(part.id)
    w.client.v1.refunds.list(params={"charge": charge})
    w.client.v1.refunds.retrieve(part.id, params={"expand": ["balance_transaction", "charge"]})
    w.client.v1.charges.retrieve(charge, params={"expand": ["refunds"]})
    w.control.fail_refund(part.id)  # refund.failed, charge.refund.updated
    w.client.v1.refunds.retrieve(part.id)


@scenario
def disputes(w: World) -> None:
    for outcome in ("won", "lost"):
        s = w.paid_session()
        charge = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
        dispute = w.control.open_dispute(charge, amount=300)
        w.client.v1.disputes.retrieve(dispute["id"])
        w.client.v1.disputes.retrieve(dispute["id"], params={"expand": ["balance_transactions", "charge"]})
        w.control.close_dispute(dispute["id"], outcome)
    w.control.dispute_status(dispute["id"], "appeal_needs_response")  # the lost one, appealed
    w.control.dispute_status(dispute["id"], "appeal_under_review")
    w.control.dispute_status(dispute["id"], "won")
    for path in (
        ["warning_under_review", "warning_closed"],
        ["prevented"],
        ["needs_response", "under_review"],
    ):
        s = w.paid_session()
        charge = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
        inquiry = w.control.open_dispute(charge, inquiry=True)
        for status in path:
            w.control.dispute_status(inquiry["id"], status)
    w.client.v1.disputes.list()


@scenario
def converted_into_the_settlement_currency(w: World) -> None:
    """An account settling in dollars takes pounds: balance transactions with exchange_rate."""
    w.control.configure(settlement_currency="usd", exchange_rates={"gbp": 1.25})
    try:
        s = w.paid_session()
        charge = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
        w.client.v1.charges.retrieve(charge, params={"expand": ["balance_transaction"]})
        w.control.configure(exchange_rates={"gbp": 1.3})
        refund = w.client.v1.refunds.create(params={"charge": charge, "amount": 100})
        w.client.v1.refunds.retrieve(refund.id, params={"expand": ["balance_transaction"]})
        dispute = w.control.open_dispute(charge, amount=200)
        w.control.close_dispute(dispute["id"], "won")
        w.client.v1.disputes.retrieve(dispute["id"])
    finally:
        w.control.configure(settlement_currency="")


@scenario
def payouts(w: World) -> None:
    w.paid_session()
    w.control.settle_balance()
    w.client.v1.balance.retrieve()
    (payout, *_) = w.control.payout()
    w.client.v1.payouts.retrieve(payout["id"])
    w.client.v1.payouts.retrieve(payout["id"], params={"expand": ["balance_transaction"]})
    w.client.v1.payouts.list()
    w.client.v1.balance_transactions.list(params={"payout": payout["id"]})
    w.client.v1.balance.retrieve()
    for kind in ("manual", "instant"):
        w.paid_session()
        (manual,) = w.control.payout(currency="gbp", kind=kind)
        w.client.v1.payouts.retrieve(manual["id"])
        with pytest.raises(stripe.InvalidRequestError):  # Stripe does not itemise manual payouts
            w.client.v1.balance_transactions.list(params={"payout": manual["id"]})


@scenario
def monthly_gift(w: World) -> None:
    s = w.monthly_session()
    sub = w.client.v1.subscriptions.retrieve(s.subscription)
    w.client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice", "customer"]})
    w.client.v1.subscriptions.list()
    w.client.v1.customers.retrieve(sub.customer)
    w.client.v1.customers.list(params={"email": "monthly@example.org"})
    w.client.v1.invoices.retrieve(s.invoice)
    w.client.v1.invoices.retrieve(s.invoice, params={"expand": ["payments"]})
    w.client.v1.invoices.list(params={"subscription": sub.id})
    w.client.v1.invoices.list(params={"subscription": sub.id, "expand": ["data.payments"]})
    (paid,) = w.client.v1.invoice_payments.list(params={"invoice": s.invoice}).data
    w.client.v1.invoice_payments.retrieve(paid.id, params={"expand": ["payment.payment_intent"]})
    w.client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": paid.payment.payment_intent}}
    )
    w.control.advance_subscription(sub.id, "paid")
    w.control.advance_subscription(sub.id, "failed")
    w.client.v1.subscriptions.cancel(sub.id)
    w.client.v1.subscriptions.list(params={"status": "all"})
    other = w.monthly_session()
    w.control.cancel_subscription(other.subscription)


@scenario
def monthly_gift_by_bank_debit(w: World) -> None:
    """Issue 17: a monthly gift whose first payment is a Bacs or SEPA debit, processing for days,
    then paid (invoice.paid, the subscription active) or refused (invoice.payment_failed, the
    invoice voided, the subscription incomplete_expired, the mandate inactive); the donor chose
    Direct Debit, so the session allows that scheme alone."""
    w.control.configure(settle_by_timer=False)  # settled by the control below, not by a timer
    for currency, outcome in (("gbp", "succeeded"), ("eur", "failed")):
        params = monthly_params(
            allowed_payment_method_types=[{"gbp": "bacs_debit", "eur": "sepa_debit"}[currency]]
        )
        params["line_items"][0]["price_data"]["currency"] = currency
        s = w.client.v1.checkout.sessions.create(params=params)
        w.control.complete_session(s.id, "async", email=f"debit-{currency}@example.org")
        pending = w.client.v1.checkout.sessions.retrieve(s.id)
        w.client.v1.subscriptions.retrieve(pending.subscription, params={"expand": ["latest_invoice"]})
        (payment,) = w.client.v1.invoice_payments.list(params={"invoice": pending.invoice}).data
        w.client.v1.charges.list(params={"payment_intent": payment.payment.payment_intent})
        if outcome == "succeeded":
            w.control.advance_bank_clock(10)  # the bank's seven business days pass
        else:
            w.control.settle_async_payment(s.id, outcome)
        w.client.v1.invoices.retrieve(pending.invoice)
        if outcome == "succeeded":
            # Renewals on the mandate; then the donor cancels it at their bank, and the next fails.
            w.control.advance_subscription(pending.subscription, "paid")
            w.control.advance_bank_clock(10)
            (charge,) = w.client.v1.charges.list(
                params={"payment_intent": payment.payment.payment_intent}
            ).data
            mandate = charge.payment_method_details.bacs_debit.mandate
            w.control.revoke_mandate(mandate)
            w.client.v1.mandates.retrieve(mandate)
            w.control.advance_subscription(pending.subscription, "paid")


@scenario
def monthly_debit_renewals(w: World) -> None:
    """A monthly gift's renewal by Bacs or SEPA debit: the invoice open, its charge pending and
    PaymentIntent processing for days (charge.pending, payment_intent.processing); then paid when
    the bank's days have passed, or refused by the bank (charge.failed, invoice.payment_failed,
    the mandate inactive, the subscription past_due) and Stripe's retry fails on it."""
    w.control.configure(settle_by_timer=False)  # settled by the bank's clock or the control below
    for currency, outcome in (("gbp", "paid"), ("eur", "failed")):
        params = monthly_params(
            allowed_payment_method_types=[{"gbp": "bacs_debit", "eur": "sepa_debit"}[currency]]
        )
        params["line_items"][0]["price_data"]["currency"] = currency
        s = w.client.v1.checkout.sessions.create(params=params)
        w.control.complete_session(s.id, "async", email=f"renewal-{currency}@example.org")
        w.control.settle_async_payment(s.id, "succeeded")
        subscription = w.client.v1.checkout.sessions.retrieve(s.id).subscription
        renewal = w.control.advance_subscription(subscription, outcome)
        w.client.v1.invoices.retrieve(renewal["id"], params={"expand": ["payments"]})
        (payment,) = w.client.v1.invoice_payments.list(params={"invoice": renewal["id"]}).data
        w.client.v1.payment_intents.retrieve(payment.payment.payment_intent)
        w.client.v1.charges.list(params={"payment_intent": payment.payment.payment_intent})
        if outcome == "paid":
            w.control.advance_bank_clock(10)
        else:
            w.control.settle_invoice_debit(renewal["id"])
            w.control.retry_invoice(renewal["id"], "paid")
        w.client.v1.invoices.retrieve(renewal["id"], params={"expand": ["payments"]})
        w.client.v1.subscriptions.retrieve(subscription, params={"expand": ["latest_invoice"]})


@scenario
def monthly_donor_manages_the_gift(w: World) -> None:
    """Issue 14: a new amount, the Customer Portal's card-update and cancel flows, Stripe's retries."""
    s = w.monthly_session()
    sub = w.client.v1.subscriptions.retrieve(s.subscription)
    item = sub["items"].data[0]
    price = item.price
    w.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price_data": {"currency": price.currency, "product": price.product,
                                                 "recurring": {"interval": "month"}, "unit_amount": 1550}}],
        "proration_behavior": "none",
    })  # fmt: skip
    back = {"type": "redirect", "redirect": {"return_url": "https://donate.example/manage"}}
    card = w.client.v1.billing_portal.sessions.create(params={
        "customer": sub.customer, "return_url": "https://donate.example/manage",
        "flow_data": {"type": "payment_method_update", "after_completion": back},
    })  # fmt: skip
    w.visit(card.url)
    w.post_form(card.url, {"action": "update", "card_number": "4242424242424242"})
    invoice = w.control.advance_subscription(sub.id, "failed")
    w.control.retry_invoice(invoice["id"], "paid")
    failing = w.control.advance_subscription(sub.id, "failed")
    for _ in range(3):
        w.control.retry_invoice(failing["id"], "failed")
    other = w.monthly_session()
    stop = w.client.v1.billing_portal.sessions.create(params={
        "customer": w.client.v1.subscriptions.retrieve(other.subscription).customer,
        "return_url": "https://donate.example/manage",
        "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": other.subscription},
                      "after_completion": back},
    })  # fmt: skip
    w.post_form(stop.url, {"action": "cancel", "feedback": "unused"})


@scenario
def products_prices_and_links(w: World) -> None:
    product = w.client.v1.products.create(params={"name": "Monthly gift", "metadata": {"appeal_id": "x"}})
    w.client.v1.products.retrieve(product.id)
    monthly = w.client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "gbp",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }  # fmt: skip
    )
    w.client.v1.prices.retrieve(monthly.id, params={"expand": ["product"]})
    pwyw = w.client.v1.prices.create(
        params={
            "product_data": {"name": "Any amount"},
            "currency": "gbp",
            "custom_unit_amount": {"enabled": True, "preset": 1500, "minimum": 300},
        }  # fmt: skip
    )
    fixed = w.client.v1.prices.create(
        params={"product_data": {"name": "Surge appeal"}, "currency": "gbp", "unit_amount": 1000}
    )
    for price in (fixed, pwyw):
        link = w.client.v1.payment_links.create(
            params={
                "line_items": [{"price": price.id, "quantity": 1}],
                "metadata": {"appeal_id": "surge"},
                "payment_intent_data": {"metadata": {"appeal_id": "surge"}},
            }
        )
        w.client.v1.payment_links.retrieve(link.id)
        w.visit(link.url)
        (session,) = w.client.v1.checkout.sessions.list(params={"payment_link": link.id}).data
        w.control.complete_session(session.id)


@scenario
def connect_destination_charges(w: World) -> None:
    """A Connect appeal (h12c): destination charges from a session, a subscription and a Payment
    Link, the transfer and its reversal, and the charity's own account (Stripe-Account)."""
    charity = "acct_1ConformCharity"
    on_charity = {"stripe_account": charity}
    s = w.paid_session(
        payment_intent_data={
            "on_behalf_of": charity,
            "transfer_data": {"destination": charity, "amount": 450},
            "metadata": {"appeal_id": "gaza-2026"},
        }
    )
    charge_id = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
    charge = w.client.v1.charges.retrieve(charge_id, params={"expand": ["transfer"]})
    transfer = w.client.v1.transfers.retrieve(charge.transfer.id)
    w.client.v1.transfers.list(params={"destination": charity})
    w.client.v1.refunds.create(params={"charge": charge_id, "amount": 100, "reverse_transfer": True})
    w.client.v1.transfers.retrieve(transfer.id, params={"expand": ["balance_transaction"]})
    w.client.v1.charges.retrieve(transfer.destination_payment, options=on_charity)
    monthly = w.client.v1.checkout.sessions.create(
        params=monthly_params(
            subscription_data={
                "metadata": {"appeal_id": "gaza-2026"},
                "on_behalf_of": charity,
                "transfer_data": {"destination": charity, "amount_percent": 96.5},
            }
        )
    )
    w.control.complete_session(monthly.id, email="monthly@example.org")
    price = w.client.v1.prices.create(
        params={"product_data": {"name": "Surge appeal"}, "currency": "gbp", "unit_amount": 1000}
    )
    link = w.client.v1.payment_links.create(
        params={
            "line_items": [{"price": price.id, "quantity": 1}],
            "on_behalf_of": charity,
            "transfer_data": {"destination": charity},
            "payment_intent_data": {"metadata": {"appeal_id": "surge"}, "description": "Surge gift"},
        }
    )
    w.visit(link.url)
    (session,) = w.client.v1.checkout.sessions.list(params={"payment_link": link.id}).data
    w.control.complete_session(session.id)
    (payout,) = w.control.payout(currency="gbp", account=charity)
    w.client.v1.balance.retrieve(options=on_charity)
    w.client.v1.payouts.retrieve(payout["id"], options=on_charity)
    w.client.v1.payouts.list(options=on_charity)
    w.client.v1.balance_transactions.list(params={"payout": payout["id"]}, options=on_charity)
    w.client.v1.events.list(params={"type": "payout.paid"}, options=on_charity)


@scenario
def events_api(w: World) -> None:
    w.paid_session()
    events = w.client.v1.events.list(params={"limit": 100})
    w.client.v1.events.retrieve(events.data[0].id)
    w.client.v1.events.list(params={"type": "charge.*"})
    w.client.v1.events.list(params={"types": ["checkout.session.completed"], "delivery_success": False})
    w.get("/v1/events", **{"created[gte]": events.data[-1].created, "limit": 3})


@scenario
def stripe_errors(w: World) -> None:
    """Error bodies: missing objects, bad parameters, idempotency misuse, injected faults."""
    calls: list[Callable[[], Any]] = [
        lambda: w.client.v1.charges.retrieve("ch_missing"),
        lambda: w.client.v1.refunds.create(params={"charge": "ch_missing"}),
        lambda: w.client.v1.checkout.sessions.create(params={**session_params(), "mode": "setup"}),
        lambda: w.client.v1.checkout.sessions.list(params={"limit": 500}),
    ]
    once = stripe.StripeClient("sk_test_sandbox", base_addresses={"api": w.base_url}, max_network_retries=0)
    for status in (402, 429, 500):
        calls.append(lambda status=status: (w.control.fail_next(1, "/v1/charges", status=status),
                                            once.v1.charges.list()))  # fmt: skip
    calls.append(lambda: (w.control.lose_next_response(1, "/v1/refunds", drop=False),
                          once.v1.refunds.create(params={"charge": charge})))  # fmt: skip
    s = w.paid_session()
    charge = w.client.v1.payment_intents.retrieve(s.payment_intent).latest_charge
    for call in calls:
        with pytest.raises(stripe.StripeError):
            call()
    with pytest.raises(stripe.InvalidRequestError):
        w.client.v1.refunds.create(params={"charge": charge})


@scenario
def idempotent_replay(w: World) -> None:
    opts = {"idempotency_key": "conformance-replay"}
    w.client.v1.checkout.sessions.create(params=session_params(), options=opts)
    w.client.v1.checkout.sessions.create(params=session_params(), options=opts)


# -- the test ------------------------------------------------------------------------------


@dataclass
class Recorder:
    scenario: str = ""
    bodies: list[tuple[str, str, Any, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, source: str, body: Any, expand: list[str]) -> None:
        with self.lock:
            self.bodies.append((self.scenario, source, body, expand))


def _called_routes(api: Api, sources: list[str]) -> set[int]:
    """Indexes in ``api.routes`` of the routes these "METHOD /path" sources reached."""
    adapter = api.url_map.bind("sandbox")
    called = set()
    for source in sources:
        method, _, path = source.partition(" ")
        if not path.startswith("/v1/"):
            continue
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        called.add(endpoint)
    return called


def test_every_object_the_sandbox_sends_has_stripes_shape(sandbox: RunningSandbox) -> None:
    world = World(
        stripe.StripeClient("sk_test_sandbox", base_addresses={"api": sandbox.base_url}),
        sandbox.control,
        sandbox.base_url,
    )
    recorder = Recorder()
    sandbox.state.watch_sent(recorder)
    try:
        for name, drive in SCENARIOS.items():
            recorder.scenario = name
            drive(world)
    finally:
        sandbox.state.watch_sent(None)

    checker = Checker(no_fixture=dict(NO_FIXTURE), allowances=dict(ALLOWANCES))
    first: dict[tuple[str, str, str], str] = {}
    for name, source, body, expand in recorder.bodies:
        for problem in checker.check_body(body, expand):
            first.setdefault((problem.type, problem.key, problem.message), f"{problem} [{name}: {source}]")
    assert not first, f"{len(first)} conformance problems:\n" + "\n".join(sorted(first.values()))
    unused = set(ALLOWANCES) - checker.allowances_used
    assert not unused, f"allowances no longer needed, delete them from ALLOWANCES: {sorted(unused)}"
    leaked = [f"{where} [{name}: {source}]" for name, source, body, _ in recorder.bodies
              for where in example_ids_in(body)]  # fmt: skip
    assert not leaked, "ids copied from Stripe's example objects:\n" + "\n".join(leaked[:20])

    routes = sandbox.api.routes
    missed = set(range(len(routes))) - _called_routes(sandbox.api, [s for _, s, _, _ in recorder.bodies])
    assert not missed, "no scenario calls: " + ", ".join(
        f"{routes[i].method} {routes[i].rule}" for i in sorted(missed)
    )
    sources = {s.split(" ")[0] for _, s, _, _ in recorder.bodies}
    assert "webhook" in sources and "GET" in sources and "POST" in sources
    # Every object type the sandbox builds was seen, so none escapes the check.
    expected_types = {
        "checkout.session", "payment_intent", "charge", "balance_transaction", "refund",
        "dispute", "payout", "balance", "customer", "subscription", "subscription_item",
        "invoice", "line_item", "item", "product", "price", "payment_link", "event", "list",
        "invoice_payment",
    }  # fmt: skip
    assert expected_types <= set(checker.types_seen), expected_types - set(checker.types_seen)


# -- the checker catches what it must ------------------------------------------------------


def _problems(body: Any, expand: tuple[str, ...] = (), **kwargs: Any) -> list[Problem]:
    return Checker(**kwargs).check_body(body, expand)


def _fixture(kind: str) -> dict[str, Any]:
    from sandbox.fixtures import template

    return template(kind)


def test_checker_accepts_stripes_own_refund() -> None:
    assert _problems(_fixture("refund")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o.update(invented=1), "refund.invented at <root>: unexpected key"),
        (lambda o: o.pop("reason"), "refund.reason at <root>: missing key"),
        (lambda o: o.update(amount="100"), 'refund.amount at amount: "100" is not an integer'),
        (lambda o: o.update(amount=True), "refund.amount at amount: true is not an integer"),
        (lambda o: o.update(reason=5), "refund.reason at reason: 5 is none of"),
        (lambda o: o.update(metadata={"a": 1}), "refund.metadata at metadata.a: 1 is not a string"),
        (lambda o: o.update(created=None), "refund.created at created: is null"),
        (lambda o: o.update(charge={"id": "ch_1", "object": "charge"}),
         "refund.charge at charge: is an object but the request did not expand it"),
        (lambda o: o.update(destination_details={"type": "card", "made_up": {}}),
         "Refund.DestinationDetails.made_up at destination_details: unexpected key"),
    ],
)  # fmt: skip
def test_checker_names_the_type_key_and_path(change: Callable[[dict], Any], expected: str) -> None:
    refund = _fixture("refund")
    change(refund)
    problems = [str(p) for p in _problems(refund)]
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    # Inside a list (or any body), the path says where the object sits.
    listed = _problems({"object": "list", "data": [refund], "has_more": False, "url": "/v1/refunds"})
    assert [p.path.split(".")[0] for p in listed] == ["data[0]"]


def test_checker_wants_expanded_fields_expanded_and_includable_fields_only_on_request() -> None:
    refund = _fixture("refund")
    assert any("is an id but the request expanded it" in str(p) for p in _problems(refund, ("charge",)))
    charge = _fixture("charge")  # Stripe's fixture still shows refunds, includable since 2022-11-15
    charge.update(transfer_data=None, source=None)  # the fixture's are a partial account and source
    assert [p.key for p in _problems(charge)] == ["refunds"]
    assert _problems(charge, ("refunds",)) == []
    del charge["refunds"]
    assert [p.key for p in _problems(charge, ("refunds",))] == ["refunds"]


def test_checker_checks_error_bodies() -> None:
    good = {
        "error": {"type": "invalid_request_error", "message": "No such charge", "code": "resource_missing"}
    }
    assert _problems(good) == []
    bad = {"error": {"type": "invalid_request_error", "detail": "x", "code": 7}}
    assert sorted(str(p) for p in _problems(bad)) == [
        "ErrorObject.code at error.code: 7 is not a string",
        "ErrorObject.detail at error: unexpected key (not a field of ErrorObject)",
        "error.message at error: missing key",
    ]


def test_checker_refuses_types_without_fixture_unless_listed() -> None:
    body = {"object": "made_up.thing", "id": "x"}
    assert [p.message for p in _problems(body)] == [
        "no fixture in fixtures3.json (or no stripe-python class)"
    ]
    assert _problems(body, no_fixture={"made_up.thing": "a test"}) == []


def test_checker_checks_event_objects_and_leaves_previous_attributes_free() -> None:
    event = _fixture("event")
    refund = _fixture("refund")
    refund["invented"] = True
    event["data"] = {"object": refund, "previous_attributes": {"amount": [1, "x"], "gone": None}}
    assert sorted(str(p) for p in _problems(event)) == [
        "event.data.previous_attributes.gone at data: not a key of data.object",
        "refund.invented at data.object: unexpected key (not a field of this object in fixtures3.json)",
    ]


def test_fixture_example_ids_are_recognised() -> None:
    charge = _fixture("charge")
    assert charge["id"] in fixture_example_ids()
    assert example_ids_in({"data": [{"id": charge["id"]}]}) == [f"data[0].id: {charge['id']}"]
    assert example_ids_in({"id": "ch_sandboxmadethis123456"}) == []


def test_checker_swaps_the_type_named_key_of_a_payment_method() -> None:
    pm = _fixture("payment_method")
    pm.update(type="sepa_debit", sepa_debit=None)
    assert [str(p) for p in _problems(pm)] == [
        "payment_method.card at <root>: unexpected key (only the sub-hash named by `type` is sent)"
    ]
    del pm["card"]
    assert _problems(pm) == []


def test_checker_lets_conditional_fields_appear_with_their_type() -> None:
    refund = _fixture("refund")
    refund.update(
        status="failed", failure_reason="expired_or_canceled_card", failure_balance_transaction="txn_1"
    )
    assert _problems(refund) == []
    refund["failure_reason"] = 3
    assert [str(p) for p in _problems(refund)] == [
        "refund.failure_reason at failure_reason: 3 is not a string"
    ]


def test_checker_wants_each_object_of_its_annotated_type() -> None:
    refund = _fixture("refund")
    charge = _fixture("charge")
    charge.update(
        transfer_data=None, source=None, refunds={**charge["refunds"], "data": [_fixture("payout")]}
    )
    assert [str(p).split(": ", 1)[1] for p in _problems(charge, ("refunds",)) if p.key == "refunds"] == [
        "holds a 'payout', not 'refund' objects"
    ]
    refund["charge"] = _fixture("payout")
    assert [str(p) for p in _problems(refund, ("charge",)) if p.key == "charge"] == [
        "refund.charge at charge: is a 'payout' object, annotated Charge ('charge')"
    ]
