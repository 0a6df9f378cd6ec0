"""Links that outlive their appeal: what a closed appeal's donors are offered instead.

A news article's donate link stays online for years; the appeal it names may close, end or reach
its goal. An appeal may name a successor (another appeal, or the charity's general fund) and a
short reason shown to donors. The donor is told plainly and chooses; nothing is re-routed
silently, because a restricted gift must go where the donor agreed. The donation then records
both the appeal the link named (``requested_appeal_id``) and the one the gift went to.

Chains are followed to the first appeal that takes gifts; loading refuses a missing successor and
a loop (service/appeals.py: check_successors), so following a chain at request time always ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..appeals import MAX_CHAIN
from ..errors import ValidationFailed
from ..models import Appeal, utcnow
from .totals import received_by_currency


class Unavailable:
    """Why an appeal is not taking gifts now."""

    CLOSED = "closed"  # closed by an operator (``flask appeals close``)
    ENDED = "ended"  # its closes_at has passed
    FUNDED = "funded"  # reached its goal, and its successor says to stop there
    NOT_YET_OPEN = "not_yet_open"  # opens_at is still ahead: no successor is offered


def raised_towards_goal(db: Session, appeal: Appeal) -> int:
    """Money received in the goal's currency (the same figure as the public progress bar)."""
    return next(
        (t.amount for t in received_by_currency(db, appeal.id) if t.currency == appeal.goal_currency), 0
    )


def unavailable_reason(db: Session, appeal: Appeal, at: datetime | None = None) -> str | None:
    """None if the appeal takes gifts now; otherwise why not (one of :class:`Unavailable`)."""
    now = at or utcnow()
    if appeal.closed_at is not None and appeal.closed_at <= now:
        return Unavailable.CLOSED
    if appeal.closes_at is not None and now >= appeal.closes_at:
        return Unavailable.ENDED
    if appeal.opens_at is not None and now < appeal.opens_at:
        return Unavailable.NOT_YET_OPEN
    # Only appeals that asked for it pay for this aggregate on the donate path.
    funded = (
        appeal.successor_when_funded
        and appeal.goal_amount
        and appeal.goal_currency
        and raised_towards_goal(db, appeal) >= appeal.goal_amount
    )
    return Unavailable.FUNDED if funded else None


def _general_fund(db: Session, charity_name: str) -> Appeal | None:
    return db.scalar(
        select(Appeal)
        .where(Appeal.general_fund.is_(True), Appeal.charity_name == charity_name)
        .order_by(Appeal.id)
        .limit(1)
    )


def named_successor(db: Session, appeal: Appeal) -> Appeal | None:
    """The appeal this one names as its successor (not followed further), if any."""
    if appeal.successor_general_fund:
        return _general_fund(db, appeal.charity_name)
    if appeal.successor_slug:
        return db.scalar(select(Appeal).where(Appeal.slug == appeal.successor_slug))
    return None


@dataclass(frozen=True)
class SuccessorOffer:
    """What a donor on a closed appeal's link is told and offered."""

    requested: Appeal  # the appeal the link named
    reason: str  # one of Unavailable
    message: str | None  # the appeal's own words for donors (successor.reason)
    successor: Appeal | None  # the first appeal along the chain that takes gifts, if any


def offer_for(db: Session, appeal: Appeal, at: datetime | None = None) -> SuccessorOffer | None:
    """None when ``appeal`` takes gifts; otherwise what to tell the donor and offer instead."""
    now = at or utcnow()
    reason = unavailable_reason(db, appeal, now)
    if reason is None:
        return None
    if reason == Unavailable.NOT_YET_OPEN:
        return SuccessorOffer(appeal, reason, None, None)
    return SuccessorOffer(appeal, reason, appeal.successor_reason, first_open_successor(db, appeal, now))


def first_open_successor(db: Session, appeal: Appeal, at: datetime | None = None) -> Appeal | None:
    """Follow the chain of successors to the first appeal taking gifts (None if none does)."""
    now = at or utcnow()
    seen = {appeal.id}
    current = appeal
    for _ in range(MAX_CHAIN):
        nxt = named_successor(db, current)
        if nxt is None or nxt.id in seen:
            return None
        if unavailable_reason(db, nxt, now) is None:
            return nxt
        seen.add(nxt.id)
        current = nxt
    return None


def check_redirect(db: Session, requested_slug: str, target: Appeal, at: datetime | None = None) -> Appeal:
    """The appeal a donor's link named, if giving to ``target`` instead is what it offers now.

    Raises ValidationFailed (field ``redirected_from``) otherwise: a gift is recorded as
    redirected only when the donor was shown this very offer.
    """
    requested = db.scalar(select(Appeal).where(Appeal.slug == requested_slug))
    offer = offer_for(db, requested, at) if requested is not None else None
    if offer is None or offer.successor is None or offer.successor.id != target.id:
        raise ValidationFailed(
            fields={
                "redirected_from": [f"{requested_slug!r} does not currently offer {target.slug!r} instead."]
            }
        )
    return requested


def unavailable_errors(db: Session, appeal: Appeal, at: datetime | None = None) -> dict[str, list[str]]:
    """The API's error for a gift to an appeal not taking gifts, naming its successor if any."""
    offer = offer_for(db, appeal, at)
    if offer is None:
        return {}
    message = "This appeal is not accepting donations."
    if offer.reason == Unavailable.FUNDED:
        message = "This appeal has reached its goal and is not accepting donations."
    if offer.successor is not None:
        message += (
            f" It offers {offer.successor.slug!r} instead: if the donor agrees, send appeal"
            f" {offer.successor.slug!r} with redirected_from {appeal.slug!r}."
        )
    return {"appeal": [message]}


def public_offer(db: Session, appeal: Appeal) -> dict[str, Any] | None:
    """The API's ``successor`` of an appeal: None while it takes gifts (or before it opens)."""
    from flask import url_for

    offer = offer_for(db, appeal)
    if offer is None or offer.reason == Unavailable.NOT_YET_OPEN:
        return None
    target = offer.successor
    return {
        "reason": offer.reason,
        "message": offer.message,
        "appeal": target.slug if target else None,
        "title": target.title if target else None,
        "donate_url": (
            url_for("donate.donate_form", slug=target.slug, _external=True, **{"from": appeal.slug})
            if target
            else None
        ),
    }
