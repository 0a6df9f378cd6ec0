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

from sandbox.fixtures import template
from service import extensions
from service.donations import DonationRequest, create_donation
from service.donations.models import Donation, DonationStatus
from service.donations.states import can_move
from service.ledger.receiving import receive
from service.models import Payment, WebhookEvent, WebhookOutcome
from service.stripe_gateway import StripeGatewayError
from tests.ledger import payloads

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
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        return [self.charges[payment_intent_id]] if payment_intent_id in self.charges else []

    def retrieve_balance_transaction(self, transaction_id: str) -> dict[str, Any]:
        if transaction_id not in self.balance_transactions:
            raise StripeGatewayError("rejected", "resource_missing", "No such balance transaction.")
        return self.balance_transactions[transaction_id]

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        if subscription_id not in self.subscriptions:
            raise StripeGatewayError("rejected", "resource_missing", "No such subscription.")
        return self.subscriptions[subscription_id]

    def refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]:
        return []  # the histories settle in the charge's currency: never asked

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class Fact:
    event: dict[str, Any]
    status: str  # the donation status this fact implies
    may_wait: bool = False  # may be kept (waiting) until a later fact makes it matchable


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
        facts.append(Fact(payloads.event(type_, obj, created=clock + len(facts)), status))

    def session(**fields: Any) -> dict[str, Any]:
        return payloads.session(donation, **fields)

    pi = "pi_" + donation.id[4:]
    txn = payloads.balance_transaction(AMOUNT, "gbp", plan.fee, source="ch_" + donation.id[4:])
    stripe.balance_transactions[txn["id"]] = txn
    carried = txn if plan.expanded else txn["id"]

    def charge(refunded: int = 0, with_fee: bool = True) -> dict[str, Any]:
        return payloads.charge(
            donation, amount_refunded=refunded, balance_transaction=carried if with_fee else None
        )

    if plan.outcome == "expired":
        add(
            "checkout.session.expired",
            session(status="expired", payment_status="unpaid"),
            DonationStatus.EXPIRED,
        )
    elif plan.outcome == "bank_failed":
        add("checkout.session.completed", session(payment_status="unpaid"), DonationStatus.PROCESSING)
        add("checkout.session.async_payment_failed", session(payment_status="unpaid"), DonationStatus.FAILED)
    elif plan.outcome == "card":
        add("charge.succeeded", charge(with_fee=plan.fee_on_succeeded), DonationStatus.PAID)
        add("checkout.session.completed", session(), DonationStatus.PAID)
        add("charge.updated", charge(), DonationStatus.PAID)
    else:
        add("checkout.session.completed", session(payment_status="unpaid"), DonationStatus.PROCESSING)
        add("charge.succeeded", charge(with_fee=plan.fee_on_succeeded), DonationStatus.PAID)
        add("checkout.session.async_payment_succeeded", session(), DonationStatus.PAID)
        add("charge.updated", charge(), DonationStatus.PAID)
    for refunded in plan.refunds:
        add(
            "charge.refunded",
            charge(refunded),
            DonationStatus.REFUNDED if refunded >= AMOUNT else DonationStatus.PARTIALLY_REFUNDED,
        )
    refunded = plan.refunds[-1] if plan.refunds else 0
    dispute_states = {"needs_response": DonationStatus.DISPUTED, "under_review": DonationStatus.DISPUTED, "won": DonationStatus.DISPUTE_WON,
                      "lost": DonationStatus.DISPUTE_LOST}  # fmt: skip
    for type_, status in plan.dispute:
        add(type_, payloads.dispute(donation, status, amount=AMOUNT - refunded), dispute_states[status])
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


def new_donation(app: Any, frequency: str = "one_off") -> Donation:
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=AMOUNT, currency="gbp",
                                      email="donor@example.org", frequency=frequency)  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(app), extensions.settings(app), request
            )
            return donation
        finally:
            db.close()


@dataclass(frozen=True)
class State:
    """Everything the ledger holds about one donation's money and state."""

    status: str
    amount_refunded: int
    paid: bool
    needs_attention: bool
    subscription_status: str | None
    payments: tuple[tuple[Any, ...], ...]


def snapshot(app: Any, donation_id: str) -> State:
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None
        payments = db.scalars(select(Payment).where(Payment.donation_id == donation_id).order_by(Payment.id))
        return State(
            donation.status,
            donation.amount_refunded,
            donation.paid_at is not None,
            donation.needs_attention,
            donation.subscription_status,
            tuple(
                (x.kind, x.stripe_payment_intent_id, x.stripe_charge_id, x.stripe_invoice_id, x.amount, x.fee,
                 x.net, x.balance_transaction_id, x.amount_refunded, x.dispute_status, x.dispute_amount)
                for x in payments
            ),
        )  # fmt: skip


def deliver(
    app: Any,
    stripe: FakeStripe,
    donations: list[Donation],
    histories: list[list[Fact]],
    order: list[tuple[int, int]],
) -> None:
    """Deliver ``order`` as the webhook route does once the signature verifies, checking each delivery.

    The apply job runs in-process (Huey's immediate mode) and asks ``stripe``, the app's gateway
    while each event is received (the sandbox's again afterwards: the next example's donations are
    created there)."""
    sessions, config = extensions.database(app).sessionmaker, extensions.settings(app)
    delivered: set[tuple[int, int]] = set()
    for h, f in order:
        fact = histories[h][f]
        before = snapshot(app, donations[h].id)
        real = extensions.stripe_gateway(app)
        extensions.set_stripe_gateway(app, stripe)
        try:
            with app.app_context():
                outcome = receive(sessions, config, json.dumps(fact.event).encode())
        finally:
            extensions.set_stripe_gateway(app, real)
        after = snapshot(app, donations[h].id)
        allowed = (
            (WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE, WebhookOutcome.WAITING)
            if fact.may_wait
            else (WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE)
        )
        assert outcome.outcome in allowed, (fact.event["type"], outcome)
        if (h, f) in delivered:
            # A repeated delivery is recognised and changes nothing.
            assert outcome.duplicate_delivery
            assert after == before
        elif after.status != before.status:
            # Each state change is one step forwards, made by the first delivery of a fact.
            assert can_move(before.status, after.status), (before.status, after.status, fact.event["type"])
        delivered.add((h, f))
    # Every event stored once, counting each of its deliveries, and (unless it was set aside
    # as not yet matchable) linked to its donation.
    with sessions() as db:
        ids = [fact.event["id"] for facts in histories for fact in facts]
        stored = {
            row.stripe_event_id: (row.delivery_count, row.donation_id)
            for row in db.scalars(select(WebhookEvent).where(WebhookEvent.stripe_event_id.in_(ids)))
        }
    for h, facts in enumerate(histories):
        for f, fact in enumerate(facts):
            count, linked = stored[fact.event["id"]]
            assert count == order.count((h, f))
            assert linked == donations[h].id or (fact.may_wait and linked is None)


def examples(count: int) -> Any:
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@examples(60)
@given(case=deliveries())
def test_any_delivery_order_leaves_the_ledger_as_the_latest_facts_say(
    app: Any, case: tuple[list[Plan], list[tuple[int, int]]]
) -> None:
    drawn, order = case
    # Hypothesis starts every example from the same global random state, and the in-process
    # sandbox and the event builders draw Stripe ids from it: without this, examples reuse ids.
    random.seed(secrets.randbits(64))
    stripe = FakeStripe()
    clock = int(time.time()) - 3600
    donations, histories, expectations = [], [], []
    for plan in drawn:
        donation = new_donation(app)
        facts, expected = history(plan, donation, stripe, clock)
        donations.append(donation)
        histories.append(facts)
        expectations.append(expected)

    deliver(app, stripe, donations, histories, order)
    for donation, expected in zip(donations, expectations, strict=True):
        state = snapshot(app, donation.id)
        assert state.status == expected.status
        assert (state.amount_refunded, state.paid, state.needs_attention) == (
            expected.amount_refunded, expected.paid, False
        )  # fmt: skip
        suffix = donation.id[4:]
        if expected.paid:
            txn_id = next(t for t, x in stripe.balance_transactions.items() if x["source"] == "ch_" + suffix)
            dispute_status, dispute_amount = expected.dispute[1:] if expected.dispute else (None, None)
            assert state.payments == (
                ("one_off", "pi_" + suffix, "ch_" + suffix, None, AMOUNT, expected.fee, AMOUNT - expected.fee,
                 txn_id, expected.amount_refunded, dispute_status, dispute_amount),
            )  # fmt: skip
        else:
            assert state.payments == ()


# -- monthly gifts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyPlan:
    """A monthly gift's history: paid months, a failed attempt, a refund, the end of it."""

    fees: tuple[int, ...]  # one per paid month
    failed_month: int | None  # this month's first attempt failed (recovered if <= len(fees))
    refunded: int  # Stripe's cumulative amount_refunded on the first month's charge
    cancelled: bool


@st.composite
def monthly_plans(draw: st.DrawFn) -> MonthlyPlan:
    fees = tuple(draw(st.lists(st.integers(1, 300), min_size=1, max_size=3)))
    return MonthlyPlan(
        fees=fees,
        failed_month=draw(st.one_of(st.none(), st.integers(2, len(fees) + 1))),
        refunded=draw(st.sampled_from([0, 0, 400, AMOUNT])),
        cancelled=draw(st.booleans()),
    )


def monthly_history(plan: MonthlyPlan, donation: Donation, stripe: FakeStripe, clock: int) -> list[Fact]:
    facts: list[Fact] = []
    suffix = donation.id[4:]
    subscription_id = "sub_" + suffix
    months = len(plan.fees)
    unrecovered = plan.failed_month is not None and plan.failed_month > months
    final = "canceled" if plan.cancelled else "past_due" if unrecovered else "active"
    stripe.subscriptions[subscription_id] = {"id": subscription_id, "status": final}

    def add(type_: str, obj: dict[str, Any], status: str, may_wait: bool = False) -> None:
        facts.append(Fact(payloads.event(type_, obj, created=clock + len(facts)), status, may_wait))

    def subscription(status: str) -> dict[str, Any]:
        return template(
            "subscription", id=subscription_id, status=status, metadata=payloads.metadata(donation)
        )

    def charge(month: int, refunded: int = 0) -> dict[str, Any]:
        return payloads.charge(donation, id=f"ch_{month}{suffix}", payment_intent=f"pi_{month}{suffix}", metadata={},
                        amount_refunded=refunded, balance_transaction=f"txn_{month}{suffix}")  # fmt: skip

    add("checkout.session.completed", payloads.session(donation), DonationStatus.PAID)
    for month in range(1, months + 2):
        if plan.failed_month == month:
            add("invoice.payment_failed", invoice(donation, month, "open"), DonationStatus.PAID)
            add("customer.subscription.updated", subscription("past_due"), DonationStatus.PAID)
        if month > months:
            break
        txn = payloads.balance_transaction(AMOUNT, "gbp", plan.fees[month - 1], id=f"txn_{month}{suffix}")
        stripe.balance_transactions[txn["id"]] = txn
        stripe.charges[f"pi_{month}{suffix}"] = charge(month, plan.refunded if month == 1 else 0)
        add("charge.succeeded", charge(month), DonationStatus.PAID, may_wait=True)
        add("invoice.paid", invoice(donation, month, "paid"), DonationStatus.PAID)
        if plan.failed_month == month:
            add("customer.subscription.updated", subscription("active"), DonationStatus.PAID)
    if plan.refunded:
        add("charge.refunded", charge(1, plan.refunded), DonationStatus.PAID, may_wait=True)
    if plan.cancelled:
        add("customer.subscription.deleted", subscription("canceled"), DonationStatus.CANCELLED)
    return facts


def invoice(donation: Donation, month: int, status: str) -> dict[str, Any]:
    suffix = donation.id[4:]
    return template(
        "invoice", id=f"in_{month}{suffix}", amount_paid=AMOUNT if status == "paid" else 0, amount_due=AMOUNT,
        currency="gbp", status=status, status_transitions={"paid_at": 1_790_000_000 + month},
        parent={"type": "subscription_details",
                "subscription_details": {"subscription": "sub_" + suffix, "metadata": payloads.metadata(donation)}},
        payments={"object": "list", "data": [{"payment": {"type": "payment_intent",
                                                          "payment_intent": f"pi_{month}{suffix}"},
                                              "status": status}]},
    )  # fmt: skip


@examples(30)
@given(plan=monthly_plans(), data=st.data())
def test_a_monthly_gift_ends_as_its_latest_facts_say(
    app: Any, plan: MonthlyPlan, data: st.DataObject
) -> None:
    random.seed(secrets.randbits(64))
    stripe = FakeStripe()
    donation = new_donation(app, frequency="monthly")
    facts = monthly_history(plan, donation, stripe, int(time.time()) - 3600)
    every = [(0, f) for f in range(len(facts))]
    order = data.draw(st.permutations(every + data.draw(st.lists(st.sampled_from(every), max_size=6))))
    deliver(app, stripe, [donation], [facts], order)

    state = snapshot(app, donation.id)
    unrecovered = plan.failed_month is not None and plan.failed_month > len(plan.fees)
    ever_told = plan.cancelled or plan.failed_month is not None
    subscription = (
        "canceled" if plan.cancelled else "past_due" if unrecovered else "active" if ever_told else None
    )
    assert (state.status, state.subscription_status) == (
        DonationStatus.CANCELLED if plan.cancelled else DonationStatus.PAID,
        subscription,
    )
    assert (state.amount_refunded, state.paid, state.needs_attention) == (plan.refunded, True, False)
    suffix = donation.id[4:]
    # One payment per paid invoice, in whichever order they arrived.
    assert sorted(state.payments) == sorted(
        ("invoice", f"pi_{m}{suffix}", f"ch_{m}{suffix}", f"in_{m}{suffix}", AMOUNT, fee, AMOUNT - fee,
         f"txn_{m}{suffix}", plan.refunded if m == 1 else 0, None, None)
        for m, fee in enumerate(plan.fees, start=1)
    )  # fmt: skip
