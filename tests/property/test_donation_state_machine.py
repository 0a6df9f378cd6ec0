"""The donation state machine converges: facts delivered in any order, any number of times,
leave a donation in the state its latest fact implies.

Stripe sends events at least once and in no particular order, and the sync/sweeper/thank-you
paths report the same facts again. A "fact" here is the status one event implies; a lifecycle
is the order in which those facts really happened.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.donations.models import Donation, DonationStatus
from service.donations.states import AFTER_PAYMENT, TRANSITIONS, advance_donation, can_move
from service.models import Appeal, utcnow


@st.composite
def lifecycles(draw: st.DrawFn) -> list[str]:
    """A donation's real history, oldest fact first."""
    start = draw(
        st.sampled_from([[DonationStatus.PENDING], [DonationStatus.CHECKOUT_ERROR, DonationStatus.PENDING]])
    )
    outcome = draw(
        st.sampled_from(
            [
                [DonationStatus.EXPIRED],
                [DonationStatus.FAILED],
                [DonationStatus.PAID],
                [DonationStatus.PROCESSING, DonationStatus.PAID],
                [DonationStatus.PROCESSING, DonationStatus.FAILED],
            ]
        )
    )
    history = start + outcome
    if history[-1] != DonationStatus.PAID:
        return history
    if draw(st.booleans()):  # a monthly gift, later cancelled
        return [*history, DonationStatus.CANCELLED] if draw(st.booleans()) else history
    refunds = [DonationStatus.PARTIALLY_REFUNDED] * draw(st.integers(0, 2))
    if draw(st.booleans()):
        refunds.append(DonationStatus.REFUNDED)
    dispute = draw(
        st.sampled_from(
            [
                [],
                [DonationStatus.DISPUTED],
                [DonationStatus.DISPUTED, DonationStatus.DISPUTE_WON],
                [DonationStatus.DISPUTED, DonationStatus.DISPUTE_LOST],
            ]
        )
    )
    if DonationStatus.DISPUTE_WON in dispute:
        return history + dispute  # see test_refund_and_won_dispute_together_need_event_times
    if DonationStatus.REFUNDED in refunds:
        return history + refunds  # a fully refunded charge cannot be disputed
    return history + refunds + dispute


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """A lifecycle and one way its facts might arrive: shuffled, some repeated."""
    history = draw(lifecycles())
    repeated = history + draw(st.lists(st.sampled_from(history), max_size=6))
    return history, draw(st.permutations(repeated))


def apply_all(facts: list[str], start: str = DonationStatus.CREATED) -> str:
    status = start
    for fact in facts:
        if can_move(status, fact):
            status = fact
    return status


@settings(max_examples=200, deadline=None)
@given(deliveries())
def test_any_delivery_order_ends_in_the_state_of_the_latest_fact(case: tuple[list[str], list[str]]) -> None:
    history, delivered = case
    assert apply_all(delivered) == history[-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(DonationStatus.ALL), max_size=12))
def test_no_sequence_moves_backwards_out_of_money_received(facts: list[str]) -> None:
    status = DonationStatus.CREATED
    for fact in facts:
        before = status
        if can_move(status, fact):
            status = fact
        if before in AFTER_PAYMENT:
            assert status in AFTER_PAYMENT  # money arrived: never back to pending/expired/failed
        assert status == before or status in TRANSITIONS[before]


def test_terminal_states_accept_nothing() -> None:
    for status in (
        DonationStatus.EXPIRED,
        DonationStatus.FAILED,
        DonationStatus.REFUNDED,
        DonationStatus.CANCELLED,
    ):
        assert not any(can_move(status, other) for other in DonationStatus.ALL), status
    # A lost dispute can still be appealed and won (Stripe's appeal_* statuses), nothing else.
    assert [other for other in DonationStatus.ALL if can_move(DonationStatus.DISPUTE_LOST, other)] == [
        DonationStatus.DISPUTE_WON
    ]


def test_refund_and_won_dispute_together_need_event_times() -> None:
    # A refund after a won dispute, and a dispute won after a partial refund, are the same set of
    # facts in a different order. The status alone cannot tell them apart, so whichever arrives
    # last wins; the money (amount_refunded, the payment's dispute status) is right either way.
    facts = [
        DonationStatus.PENDING,
        DonationStatus.PAID,
        DonationStatus.DISPUTED,
        DonationStatus.DISPUTE_WON,
        DonationStatus.PARTIALLY_REFUNDED,
    ]
    assert apply_all(facts) == DonationStatus.PARTIALLY_REFUNDED
    assert (
        apply_all(
            [
                DonationStatus.PENDING,
                DonationStatus.PAID,
                DonationStatus.PARTIALLY_REFUNDED,
                DonationStatus.DISPUTED,
                DonationStatus.DISPUTE_WON,
            ]
        )
        == DonationStatus.DISPUTE_WON
    )
    assert apply_all(list(reversed(facts))) in AFTER_PAYMENT


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_the_database_compare_and_set_agrees_with_the_table(
    app: Any, db_session: Any, case: tuple[list[str], list[str]]
) -> None:
    history, delivered = case
    appeal_id = db_session.scalar(select(Appeal.id).limit(1))  # the seeded appeal
    donation = Donation(appeal_id=appeal_id, amount=2500, currency="gbp", frequency="one_off",
                        status=DonationStatus.CREATED, created_at=utcnow())  # fmt: skip
    db_session.add(donation)
    db_session.commit()
    for fact in delivered:
        advance_donation(db_session, donation.id, fact)
        db_session.commit()
    db_session.expire_all()
    assert db_session.get(Donation, donation.id).status == history[-1]
    if history[-1] in AFTER_PAYMENT:
        assert db_session.get(Donation, donation.id).paid_at is not None
