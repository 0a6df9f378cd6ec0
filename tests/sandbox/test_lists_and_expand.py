"""List objects: pagination, created filters, auto-paging, and expand."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def five_sessions(stripe_client, sandbox, donation):
    ids = [stripe_client.v1.checkout.sessions.create(params=donation()).id for _ in range(5)]
    # Distinct creation times make the created filters meaningful.
    for offset, sid in enumerate(ids):
        sandbox.state.store.get(sid)["created"] = 1_800_000_000 + offset * 100
    return ids[::-1]  # newest first, Stripe's order


def test_limit_and_has_more(stripe_client, five_sessions):
    page = stripe_client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in page.data] == five_sessions[:2]
    assert page.has_more is True and page.object == "list"
    assert len(stripe_client.v1.checkout.sessions.list().data) == 5  # default limit 10


def test_starting_after_and_ending_before(stripe_client, five_sessions):
    nxt = stripe_client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": five_sessions[1]})
    assert [s.id for s in nxt.data] == five_sessions[2:4] and nxt.has_more is True
    last = stripe_client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": five_sessions[3]})
    assert [s.id for s in last.data] == five_sessions[4:] and last.has_more is False
    prev = stripe_client.v1.checkout.sessions.list(params={"limit": 2, "ending_before": five_sessions[3]})
    assert [s.id for s in prev.data] == five_sessions[1:3] and prev.has_more is True


def test_auto_paging_iterates_everything(stripe_client, five_sessions):
    page = stripe_client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in page.auto_paging_iter()] == five_sessions


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_bounds(stripe_client, five_sessions, limit):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.list(params={"limit": limit})
    assert info.value.param == "limit"


def test_created_filters(stripe_client, five_sessions):
    newest_first = five_sessions

    def ids(created):
        return [s.id for s in stripe_client.v1.checkout.sessions.list(params={"created": created}).data]

    assert ids({"gte": 1_800_000_200}) == newest_first[:3]
    assert ids({"gt": 1_800_000_200}) == newest_first[:2]
    assert ids({"lt": 1_800_000_100}) == newest_first[4:]
    assert ids({"lte": 1_800_000_100, "gte": 1_800_000_100}) == [newest_first[3]]
    assert ids(1_800_000_300) == [newest_first[1]]


def test_expand_on_list(stripe_client, sandbox, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    sandbox.control.complete_session(session.id)
    page = stripe_client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent"]})
    assert page.data[0].payment_intent.object == "payment_intent"
    charges = stripe_client.v1.charges.list(params={"expand": ["data.balance_transaction"]})
    assert charges.data[0].balance_transaction.fee == 28


def test_expand_unknown_property_is_rejected(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["wizard"]})
    assert info.value.param == "expand"


def test_expand_null_field_stays_null(stripe_client, donation):
    session = stripe_client.v1.checkout.sessions.create(params=donation())
    got = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "subscription"]}
    )
    assert got.payment_intent is None and got.subscription is None
