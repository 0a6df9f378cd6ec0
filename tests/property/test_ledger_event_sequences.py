"""The webhook ledger converges: a donation's real Stripe events, delivered duplicated and in any
order, leave the ledger holding what the latest facts say.

Each example draws one or two one-off donations' true histories (facts in the order they really
happened, each fact one Stripe event shaped as Stripe sends it at that moment), creates the
donations the real way (their Checkout Sessions in the sandbox), then delivers the events
shuffled and with repeats through ``receive``, the function the webhook route calls once the
signature verifies. What the ledger must end with is computed from the history alone.

Lookups the apply functions make (a balance transaction sent only by id, the charge behind a
dispute that arrives first) are answered by :class:`FakeStripe`, which knows the histories' final
state, as Stripe would.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.donations import DonationRequest, create_donation
from service.fulfilment import can_move
from service.ledger.receiving import receive
from service.models import Donation, DonationStatus, Payment, WebhookEvent, WebhookOutcome
from service.stripe_gateway import StripeGatewayError
from tests.ledger import payloads as p

S = DonationStatus
W = WebhookOutcome
AMOUNT = 2500
PAID_OUTCOMES = ("card", "bank_paid")


@dataclass(frozen=True)
class Plan:
    """A one-off donation's history, drawn before the donation exists."""

    outcome: str  # expired | card | bank_paid (bank debit, settled) | bank_failed
    fee: int
    fee_on_succeeded: bool  # charge.succeeded already names its balance transaction
    expanded: bool  # events carry the balance transaction itself, not only its id
    refunds: tuple[int, ...]  # Stripe's cumulative amount_refunded after each refund
    dispute: tuple[tuple[str, str], ...]  # (event type, dispute status) in order


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    # Paid histories are where refunds and disputes happen, so they are drawn twice as often.
    outcome = draw(st.sampled_from(["card", "bank_paid", "expired", "card", "bank_paid", "bank_failed"]))
    refunds: list[int] = []
    dispute: list[tuple[str, str]] = []
    if outcome in PAID_OUTCOMES:
        ending = draw(st.sampled_from([None, "open", "won", "lost"]))
        refunds = sorted(draw(st.sets(st.integers(1, AMOUNT - 1), max_size=2)))
        if ending is None and draw(st.booleans()):
            refunds.append(AMOUNT)  # a fully refunded charge cannot be disputed
        if ending == "won":
            # A refund and a won dispute leave the same facts in either order; the status alone
            # cannot tell which came last (tests/property/test_donation_state_machine.py).
            refunds = []
        if ending is not None:
            dispute.append(("charge.dispute.created", "needs_response"))
            if draw(st.booleans()):
                dispute.append(("charge.dispute.funds_withdrawn", "needs_response"))
            if draw(st.booleans()):
                dispute.append(("charge.dispute.updated", "under_review"))
        if ending in ("won", "lost"):
            dispute.append(("charge.dispute.closed", ending))
            if ending == "won" and draw(st.booleans()):
                dispute.append(("charge.dispute.funds_reinstated", "won"))
    return Plan(
        outcome=outcome,
        fee=draw(st.integers(1, 300)),
        fee_on_succeeded=draw(st.booleans()),
        expanded=draw(st.booleans()),
        refunds=tuple(refunds),
        dispute=tuple(dispute),
    )


@dataclass
class FakeStripe:
    """The read methods the ledger may call, answered from the histories' final state."""

    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by payment intent
    balance_transactions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        return [self.charges[payment_intent_id]] if payment_intent_id in self.charges else []

    def retrieve_balance_transaction(self, transaction_id: str) -> dict[str, Any]:
        if transaction_id not in self.balance_transactions:
            raise StripeGatewayError("rejected", "resource_missing", "No such balance transaction.")
        return self.balance_transactions[transaction_id]

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        raise StripeGatewayError("rejected", "resource_missing", "No such subscription.")

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class Fact:
    event: dict[str, Any]
    status: str  # the donation status this fact implies


@dataclass(frozen=True)
class Expected:
    status: str
    paid: bool
    amount_refunded: int
    fee: int | None
    dispute: tuple[str, str, int] | None  # id, status, amount


def history(plan: Plan, donation: Donation, stripe: FakeStripe, clock: int) -> tuple[list[Fact], Expected]:
    """The events Stripe would send for ``plan``, oldest first, and what they leave behind."""
    facts: list[Fact] = []

    def add(type_: str, obj: dict[str, Any], status: str) -> None:
        facts.append(Fact(p.event(type_, obj, created=clock + len(facts)), status))

    def session(**fields: Any) -> dict[str, Any]:
        return p.session(donation, **fields)

    pi = "pi_" + donation.id[4:]
    txn = p.balance_transaction(AMOUNT, "gbp", plan.fee, source="ch_" + donation.id[4:])
    stripe.balance_transactions[txn["id"]] = txn
    carried = txn if plan.expanded else txn["id"]

    def charge(refunded: int = 0, with_fee: bool = True) -> dict[str, Any]:
        return p.charge(donation, amount_refunded=refunded, balance_transaction=carried if with_fee else None)

    if plan.outcome == "expired":
        add("checkout.session.expired", session(status="expired", payment_status="unpaid"), S.EXPIRED)
    elif plan.outcome == "bank_failed":
        add("checkout.session.completed", session(payment_status="unpaid"), S.PROCESSING)
        add("checkout.session.async_payment_failed", session(payment_status="unpaid"), S.FAILED)
    elif plan.outcome == "card":
        add("charge.succeeded", charge(with_fee=plan.fee_on_succeeded), S.PAID)
        add("checkout.session.completed", session(), S.PAID)
        add("charge.updated", charge(), S.PAID)
    else:
        add("checkout.session.completed", session(payment_status="unpaid"), S.PROCESSING)
        add("charge.succeeded", charge(with_fee=plan.fee_on_succeeded), S.PAID)
        add("checkout.session.async_payment_succeeded", session(), S.PAID)
        add("charge.updated", charge(), S.PAID)
    for refunded in plan.refunds:
        add("charge.refunded", charge(refunded), S.REFUNDED if refunded >= AMOUNT else S.PARTIALLY_REFUNDED)
    refunded = plan.refunds[-1] if plan.refunds else 0
    dispute_states = {"needs_response": S.DISPUTED, "under_review": S.DISPUTED, "won": S.DISPUTE_WON,
                      "lost": S.DISPUTE_LOST}  # fmt: skip
    for type_, status in plan.dispute:
        add(type_, p.dispute(donation, status, amount=AMOUNT - refunded), dispute_states[status])
    paid = plan.outcome in PAID_OUTCOMES
    if paid:
        stripe.charges[pi] = charge(refunded)
    last_dispute = plan.dispute[-1][1] if plan.dispute else None
    return facts, Expected(
        status=facts[-1].status,
        paid=paid,
        amount_refunded=refunded,
        fee=plan.fee if paid else None,
        dispute=("dp_" + donation.id[4:], last_dispute, AMOUNT - refunded) if last_dispute else None,
    )


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Plan], list[tuple[int, int]]]:
    """One or two histories, and the order their events arrive in: shuffled, some repeated.

    Every fact is delivered at least once (Stripe retries until it gets a 2xx); a delivery is a
    (history, fact) index pair.
    """
    drawn = draw(st.lists(plans(), min_size=1, max_size=2))
    every = [(h, f) for h, plan in enumerate(drawn) for f in range(len(facts_in(plan)))]
    repeats = draw(st.lists(st.sampled_from(every), max_size=8))
    return drawn, draw(st.permutations(every + repeats))


def facts_in(plan: Plan) -> list[str]:
    """The event types of ``plan``'s history, for sizing the delivery order before donations exist."""
    base = {
        "expired": ["checkout.session.expired"],
        "bank_failed": ["checkout.session.completed", "checkout.session.async_payment_failed"],
        "card": ["charge.succeeded", "checkout.session.completed", "charge.updated"],
        "bank_paid": ["checkout.session.completed", "charge.succeeded",
                      "checkout.session.async_payment_succeeded", "charge.updated"],
    }[plan.outcome]  # fmt: skip
    return base + ["charge.refunded"] * len(plan.refunds) + [type_ for type_, _ in plan.dispute]


def new_donation(app: Any) -> Donation:
    with app.app_context():
        db = app.extensions["database"].sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=AMOUNT, currency="gbp",
                                      email="donor@example.org")  # fmt: skip
            donation, _ = create_donation(
                db, app.extensions["stripe_gateway"], app.extensions["settings"], request
            )
            return donation
        finally:
            db.close()


def snapshot(app: Any, donation_id: str) -> tuple[Any, ...]:
    """Everything the ledger holds about one donation's money and state."""
    with app.extensions["database"].sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None
        payments = db.scalars(select(Payment).where(Payment.donation_id == donation_id).order_by(Payment.id))
        return (
            donation.status,
            donation.amount_refunded,
            donation.paid_at is not None,
            donation.needs_attention,
            tuple(
                (
                    x.kind,
                    x.stripe_payment_intent_id,
                    x.stripe_charge_id,
                    x.amount,
                    x.currency,
                    x.fee,
                    x.net,
                    x.balance_transaction_id,
                    x.amount_refunded,
                    x.dispute_id,
                    x.dispute_status,
                    x.dispute_amount,
                )
                for x in payments
            ),  # fmt: skip
        )


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_any_delivery_order_leaves_the_ledger_as_the_latest_facts_say(
    app: Any, case: tuple[list[Plan], list[tuple[int, int]]]
) -> None:
    drawn, order = case
    # Hypothesis starts every example from the same global random state, and the in-process
    # sandbox and the event builders draw Stripe ids from it: without this, examples reuse ids.
    random.seed(secrets.randbits(64))
    stripe = FakeStripe()
    sessions, config = app.extensions["database"].sessionmaker, app.extensions["settings"]
    clock = int(time.time()) - 3600
    donations, histories, expectations = [], [], []
    for plan in drawn:
        donation = new_donation(app)
        facts, expected = history(plan, donation, stripe, clock)
        donations.append(donation)
        histories.append(facts)
        expectations.append(expected)

    delivered: set[tuple[int, int]] = set()
    for h, f in order:
        fact = histories[h][f]
        before = snapshot(app, donations[h].id)
        outcome = receive(sessions, stripe, config, json.dumps(fact.event).encode())  # type: ignore[arg-type]
        after = snapshot(app, donations[h].id)
        assert outcome.outcome in (W.PROCESSED, W.DUPLICATE), (fact.event["type"], outcome)
        if (h, f) in delivered:
            # A repeated delivery is recognised and changes nothing.
            assert outcome.duplicate_delivery
            assert after == before
        elif after[0] != before[0]:
            # Each state change is one step forwards, made by the first delivery of a fact.
            assert can_move(before[0], after[0]), (before[0], after[0], fact.event["type"])
        delivered.add((h, f))

    for h, (donation, facts, expected) in enumerate(zip(donations, histories, expectations, strict=True)):
        status, amount_refunded, has_paid_at, needs_attention, payments = snapshot(app, donation.id)
        assert status == expected.status, [fact.event["type"] for fact in facts]
        assert (amount_refunded, has_paid_at, needs_attention) == (
            expected.amount_refunded,
            expected.paid,
            False,
        )
        suffix = donation.id[4:]
        if expected.paid:
            txn_id = next(t for t, x in stripe.balance_transactions.items() if x["source"] == "ch_" + suffix)
            dispute_id, dispute_status, dispute_amount = expected.dispute or (None, None, None)
            assert payments == (
                ("one_off", "pi_" + suffix, "ch_" + suffix, AMOUNT, "gbp", expected.fee, AMOUNT - expected.fee,
                 txn_id, expected.amount_refunded, dispute_id, dispute_status, dispute_amount),
            )  # fmt: skip
        else:
            assert payments == ()
        with sessions() as db:
            stored = {
                row.stripe_event_id: (row.delivery_count, row.donation_id)
                for row in db.scalars(
                    select(WebhookEvent).where(
                        WebhookEvent.stripe_event_id.in_([x.event["id"] for x in facts])
                    )
                )
            }
        # Every event stored once, linked to its donation, counting each of its deliveries.
        assert stored == {
            fact.event["id"]: (order.count((h, f)), donation.id) for f, fact in enumerate(facts)
        }
