"""Deciding each paid gift against its appeal's match rules, inside the ledger's transaction.

:func:`settle_donation` is called wherever the ledger records a payment's money facts (a
payment recorded paid, a refund, a dispute: service/ledger/payments.py). It recomputes what each
of the donation's payments should be matched from the payment rows as they are now, so the same
facts applied twice, or in another order, give the same allocations; a refund or a lost dispute
lowers the match and gives the difference back to the cap (for later gifts: a payment takes
from the cap only when it is first decided).

The cap is shared by every gift to the appeal, so it is only ever changed by conditional
updates: ``used`` moves from the value just read to a value no greater than ``cap``, or the
update matches no row and is tried again on a fresh read. On PostgreSQL a concurrent update
waits for the other transaction and re-checks the condition against the committed row; SQLite
has one writer at a time. Either way ``used`` never passes ``cap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import insert_ignore
from ..donations.models import Donation
from ..gift_aid import normalise_postcode
from ..models import Payment, utcnow
from .models import MatchAllocation, MatchCap, MatchRule, MatchStatus

ATTEMPTS = 50  # conditional updates lost to concurrent payments before giving up on more room


@dataclass(frozen=True)
class Decision:
    wanted: int  # what the rule would match, before the cap
    gift_amount: int
    reason: str | None
    evidence: str | None
    postcode_district: str | None
    payment_kind: str


def _payment_kind(payment: Payment, first_invoice_id: int | None) -> str:
    if payment.kind != "invoice":
        return "one_off"
    return "first_monthly" if payment.id == first_invoice_id else "monthly"


def gift_counted(payment: Payment, donation: Donation) -> int:
    """The gift as it counts for matching now: without fee cover, refunds or a lost dispute."""
    if payment.status != "succeeded":
        return 0
    lost = (payment.dispute_amount or 0) if payment.dispute_status == "lost" else 0
    gift = payment.amount - (donation.fee_cover_amount or 0)
    return max(0, gift - (payment.amount_refunded or 0) - lost)


def decide(rule: MatchRule, has_cap: bool, donation: Donation, payment: Payment, kind: str) -> Decision:
    """What ``rule`` says about ``payment`` of ``donation`` (the cap is applied after)."""
    gift = gift_counted(payment, donation)
    declared = normalise_postcode(donation.gift_aid_postcode or "") if donation.gift_aid else None
    given = normalise_postcode(donation.match_postcode or "") if donation.match_postcode else None
    postcode, evidence = None, None
    if "gift_aid_declaration" in rule.uk_residence and declared:
        postcode, evidence = declared, "gift_aid_declaration"
    elif "postcode" in rule.uk_residence and (given or declared):
        postcode, evidence = given or declared, "postcode"
    district = postcode.split(" ")[0] if postcode else None
    reason = None
    if not has_cap:
        reason = "currency_not_matched"
    elif payment.paid_at is None or not rule.is_live(payment.paid_at):
        reason = "outside_window"
    elif kind not in rule.payments:
        reason = "payment_not_matched"  # e.g. a second monthly payment, or one-off gifts excluded
    elif rule.uk_residence and evidence is None:
        reason = "no_uk_residence_evidence"
    elif gift == 0:
        reason = "dispute_lost" if payment.dispute_status == "lost" else "refunded"
    wanted = 0 if reason else gift * rule.ratio_funder // rule.ratio_donor
    return Decision(wanted, gift, reason, evidence, district, kind)


def reserve(db: Session, cap_id: int, amount: int) -> int:
    """Take up to ``amount`` of the cap's room; returns what was taken (0 when it is full)."""
    if amount <= 0:
        return 0
    for _ in range(ATTEMPTS):
        cap, used = db.execute(select(MatchCap.cap, MatchCap.used).where(MatchCap.id == cap_id)).one()
        grant = min(amount, cap - used)
        if grant <= 0:
            return 0
        moved = db.execute(
            update(MatchCap)
            .where(MatchCap.id == cap_id, MatchCap.used == used, MatchCap.used + grant <= MatchCap.cap)
            .values(used=MatchCap.used + grant)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            return grant
    return 0


def release(db: Session, cap_id: int, amount: int) -> None:
    if amount > 0:
        db.execute(
            update(MatchCap)
            .where(MatchCap.id == cap_id)
            .values(used=MatchCap.used - amount)
            .execution_options(synchronize_session=False)
        )


def _allocation(db: Session, rule_id: int, payment_id: int) -> MatchAllocation | None:
    return db.scalar(
        select(MatchAllocation)
        .where(MatchAllocation.rule_id == rule_id, MatchAllocation.payment_id == payment_id)
        .execution_options(populate_existing=True)
    )


def _settle_one(db: Session, rule: MatchRule, cap: MatchCap | None, donation: Donation, payment: Payment,
                decision: Decision) -> bool:  # fmt: skip
    now = utcnow()
    inserted = insert_ignore(
        db,
        MatchAllocation,
        {
            "rule_id": rule.id, "payment_id": payment.id, "donation_id": donation.id,
            "currency": payment.currency, "gift_amount": decision.gift_amount, "matched": 0,
            "status": MatchStatus.NOT_MATCHED, "payment_kind": decision.payment_kind,
            "paid_at": payment.paid_at, "created_at": now, "updated_at": now,
        },
    )  # fmt: skip
    for _ in range(ATTEMPTS):
        allocation = _allocation(db, rule.id, payment.id)
        assert allocation is not None
        current = allocation.matched
        new = current
        if cap is not None and decision.wanted > current and inserted:
            # Only a payment's first decision takes from the cap. Room a refund frees later goes
            # to later gifts, never back to an earlier one the cap cut short: which earlier gift
            # would get it would depend on the order events happen to be re-applied.
            new = current + reserve(db, cap.id, decision.wanted - current)
        elif cap is not None and decision.wanted < current:
            new = decision.wanted
        status = (
            MatchStatus.NOT_MATCHED if new == 0
            else MatchStatus.MATCHED if new >= decision.wanted
            else MatchStatus.PARTLY_MATCHED
        )  # fmt: skip
        reason = decision.reason or ("cap_reached" if new < decision.wanted else None)
        values = {
            "matched": new, "status": status, "reason": reason, "gift_amount": decision.gift_amount,
            "residence_evidence": decision.evidence, "postcode_district": decision.postcode_district,
            "payment_kind": decision.payment_kind, "paid_at": payment.paid_at,
        }  # fmt: skip
        if all(getattr(allocation, key) == value for key, value in values.items()):
            return inserted
        # Compare-and-set on what was read, so two settlements of one payment cannot both count.
        done = db.execute(
            update(MatchAllocation)
            .where(MatchAllocation.id == allocation.id, MatchAllocation.matched == current)
            .values(**values, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount:  # type: ignore[attr-defined]
            if cap is not None and new < current:
                release(db, cap.id, current - new)
            return True
        if cap is not None and new > current:
            release(db, cap.id, new - current)  # someone else settled it meanwhile: hand back, re-read
    return inserted


def settle_donation(db: Session, donation_id: str) -> bool:
    """Match (or un-match) every payment of the donation by its appeal's rules; True if anything changed."""
    rules = list(
        db.scalars(
            select(MatchRule)
            .join(Donation, Donation.appeal_id == MatchRule.appeal_id)
            .where(Donation.id == donation_id)
            .order_by(MatchRule.id)
        )
    )
    if not rules:
        return False
    donation = db.get(Donation, donation_id, populate_existing=True)
    assert donation is not None
    payments = list(
        db.scalars(
            select(Payment)
            .where(Payment.donation_id == donation_id)
            .order_by(Payment.paid_at, Payment.id)
            .execution_options(populate_existing=True)
        )
    )
    invoices = [p for p in payments if p.kind == "invoice"]
    first_invoice_id = invoices[0].id if invoices else None
    changed = False
    for rule in rules:
        caps = {c.currency: c for c in db.scalars(select(MatchCap).where(MatchCap.rule_id == rule.id))}
        for payment in payments:
            cap = caps.get(payment.currency)
            kind = _payment_kind(payment, first_invoice_id)
            decision = decide(rule, cap is not None, donation, payment, kind)
            changed |= _settle_one(db, rule, cap, donation, payment, decision)
    return changed


def match_remaining(db: Session, appeal_id: int, at: datetime | None = None) -> list[dict[str, object]]:
    """Each live rule's funder, ratio, end and room left per currency (for donors and progress)."""
    now = at or utcnow()
    out: list[dict[str, object]] = []
    for rule in db.scalars(select(MatchRule).where(MatchRule.appeal_id == appeal_id).order_by(MatchRule.id)):
        caps = list(
            db.scalars(select(MatchCap).where(MatchCap.rule_id == rule.id).order_by(MatchCap.currency))
        )
        out.append(
            {
                "funder": rule.funder,
                "ratio": rule.ratio,
                "starts_at": rule.starts_at,
                "ends_at": rule.ends_at,
                "live": rule.is_live(now) and any(c.used < c.cap for c in caps),
                "caps": [
                    {"currency": c.currency, "cap": c.cap, "used": c.used, "remaining": c.cap - c.used}
                    for c in caps
                ],  # fmt: skip
            }
        )
    return out
