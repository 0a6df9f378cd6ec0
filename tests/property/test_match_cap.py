"""A funder's cap is never exceeded: payments, refunds and lost disputes applied shuffled,
duplicated and from many threads at once, on SQLite and PostgreSQL.

Events go through the ledger's own payment functions (``upsert_payment``, ``merge_charge``,
``merge_dispute``), each in its own transaction holding the donation's lock as the webhook ledger
does, so the match-funding hook runs exactly where it runs in production.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service import extensions
from service.appeals import upsert_appeals, validate_definitions
from service.donations.models import Donation
from service.donations.states import lock_donation
from service.ledger.payments import find_payment, merge_charge, merge_dispute, upsert_payment
from service.matching.ledger import settle_donation
from service.matching.models import MatchAllocation, MatchCap
from service.models import Appeal, utcnow

PAID_AT = datetime(2026, 3, 10, tzinfo=UTC)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _appeal_with_rule(app: Any, cap: int, ratio: str) -> str:
    slug = "match-" + secrets.token_hex(4)
    definition = {
        "slug": slug, "title": "Matched", "charity_name": "Charity", "currencies": ["gbp"],
        "match_funding": [{"funder": "UK Aid Match", "ratio": ratio, "caps": {"gbp": cap},
                           "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}],
    }  # fmt: skip
    with app.app_context(), extensions.database(app).begin() as db:
        upsert_appeals(db, validate_definitions([definition]))
    return slug


def _donations(app: Any, slug: str, amounts: list[int]) -> list[str]:
    ids = ["don_" + secrets.token_hex(12) for _ in amounts]
    with extensions.database(app).begin() as db:
        appeal_id = db.scalar(select(Appeal.id).where(Appeal.slug == slug))
        now = utcnow()
        db.execute(
            insert(Donation),
            [
                {"id": i, "appeal_id": appeal_id, "amount": a, "currency": "gbp", "frequency": "one_off",
                 "status": "pending", "created_at": now, "updated_at": now}
                for i, a in zip(ids, amounts, strict=True)
            ],
        )  # fmt: skip
    return ids


def _apply(app: Any, event: tuple[str, str, int, int]) -> None:
    """One event in its own transaction; a SQLite write conflict is retried, as Stripe redelivers."""
    kind, donation_id, amount, value = event
    for attempt in range(40):
        db = extensions.database(app).sessionmaker()
        try:
            donation = lock_donation(db, donation_id)
            pi = "pi_" + donation_id
            upsert_payment(db, donation, kind="one_off", payment_intent_id=pi, amount=amount, currency="gbp",
                           paid_at=PAID_AT)  # fmt: skip
            payment = find_payment(db, payment_intent_id=pi)
            if kind == "refund":
                merge_charge(db, None, payment, {"id": "ch_" + donation_id, "amount_refunded": value})
            elif kind == "lost":
                merge_dispute(db, payment, {"id": "dp_" + donation_id, "status": "lost", "amount": value})
            db.commit()
            return
        except (OperationalError, PoolTimeout):
            db.rollback()
            time.sleep(0.01 * (attempt + 1))
        finally:
            db.close()
    raise AssertionError("event never applied")


def _state(app: Any, donation_ids: list[str]) -> tuple[int, int, dict[str, int]]:
    with extensions.database(app).sessionmaker() as db:
        rows = db.scalars(select(MatchAllocation).where(MatchAllocation.donation_id.in_(donation_ids))).all()
        cap = db.scalar(select(MatchCap).where(MatchCap.rule_id == rows[0].rule_id)) if rows else None
        return (cap.cap if cap else 0), (cap.used if cap else 0), {r.donation_id: r.matched for r in rows}


gifts = st.lists(st.integers(min_value=100, max_value=20000), min_size=1, max_size=8)


@SETTINGS
@given(
    amounts=gifts,
    cap=st.integers(min_value=1, max_value=60000),
    ratio=st.sampled_from(["1:1", "2:1", "1:2"]),
    data=st.data(),
)
def test_the_cap_holds_whatever_the_order_and_repeats_of_payments_refunds_and_lost_disputes(
    app: Any, amounts: list[int], cap: int, ratio: str, data: st.DataObject
) -> None:
    slug = _appeal_with_rule(app, cap, ratio)
    ids = _donations(app, slug, amounts)
    funder, donor = map(int, ratio.split(":"))
    events, counted = [], {}
    for donation_id, amount in zip(ids, amounts, strict=True):
        events.append(("pay", donation_id, amount, 0))
        ending = data.draw(st.sampled_from(["kept", "kept", "refund_part", "refund_all", "lost"]))
        refunded = {"refund_part": amount // 3, "refund_all": amount}.get(ending, 0)
        if refunded:
            events.append(("refund", donation_id, amount, refunded))
        if ending == "lost":
            events.append(("lost", donation_id, amount, amount))
        counted[donation_id] = 0 if ending == "lost" else amount - refunded
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    delivered = data.draw(st.permutations(events + repeats))

    for event in delivered:
        _apply(app, event)
        limit, used, matched = _state(app, ids)
        assert used <= limit and used == sum(matched.values())

    limit, used, matched = _state(app, ids)
    for donation_id in ids:
        assert 0 <= matched[donation_id] <= counted[donation_id] * funder // donor
    if all(counted[i] == a for i, a in zip(ids, amounts, strict=True)):
        # Nothing refunded: gifts fill the cap greedily, so it is used up or every gift is matched.
        assert used == min(limit, sum(a * funder // donor for a in amounts))
    # Idempotent: settling again with the same facts changes nothing.
    with extensions.database(app).begin() as db:
        assert not any(settle_donation(db, i) for i in ids)
    assert _state(app, ids) == (limit, used, matched)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(min_value=100, max_value=5000), min_size=6, max_size=12),
    cap=st.integers(min_value=100, max_value=30000),
)
def test_the_cap_holds_when_payments_are_recorded_from_many_threads_at_once(
    app: Any, amounts: list[int], cap: int
) -> None:
    slug = _appeal_with_rule(app, cap, "1:1")
    ids = _donations(app, slug, amounts)
    # Every payment delivered twice, all at once: different gifts race for the cap, and the same
    # gift races with its own duplicate.
    events = [("pay", i, a, 0) for i, a in zip(ids, amounts, strict=True)] * 2
    random.Random(cap).shuffle(events)
    barrier = threading.Barrier(len(events))

    def run(event: tuple[str, str, int, int]) -> None:
        barrier.wait()
        _apply(app, event)

    with ThreadPoolExecutor(len(events)) as pool:
        list(pool.map(run, events))
    limit, used, matched = _state(app, ids)
    assert used == sum(matched.values()) == min(limit, sum(amounts))
    assert all(matched[i] <= a for i, a in zip(ids, amounts, strict=True))
