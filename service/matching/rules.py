"""Storing an appeal's match rules as its definition gives them, keeping what caps have used."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..models import Appeal
from .models import MatchAllocation, MatchCap, MatchRule


def store_rules(db: Session, appeal: Appeal, rules: list[dict[str, Any]], label: str = "") -> None:
    """Make the appeal's rules these (one per funder); a rule or cap gifts already hold stays.

    A cap may be raised or lowered (never below what is matched already); a rule or a cap's
    currency with matched gifts cannot be removed, since the funder's report must still show them.
    """
    existing = {
        rule.funder: rule for rule in db.scalars(select(MatchRule).where(MatchRule.appeal_id == appeal.id))
    }
    errors: dict[str, list[str]] = {}
    for index, spec in enumerate(rules):
        rule = existing.pop(spec["funder"], None)
        if rule is None:
            rule = MatchRule(appeal_id=appeal.id, funder=spec["funder"])
            db.add(rule)
        eligibility = spec["eligibility"]
        rule.ratio_funder, rule.ratio_donor = spec["ratio_funder"], spec["ratio_donor"]
        rule.starts_at, rule.ends_at = spec.get("starts_at"), spec.get("ends_at")
        rule.individual_donors = eligibility["individual_donors"]
        rule.uk_residence = list(eligibility["uk_residence"])
        rule.payments = list(eligibility["payments"])
        db.flush()
        caps = {cap.currency: cap for cap in db.scalars(select(MatchCap).where(MatchCap.rule_id == rule.id))}
        for currency, amount in spec["caps"].items():
            cap = caps.pop(currency, None)
            if cap is None:
                db.add(MatchCap(rule_id=rule.id, currency=currency, cap=amount, used=0))
            elif cap.used > amount:
                errors[f"{label}match_funding.{index}.caps"] = [
                    f"{currency} cap {amount} is below the {cap.used} already matched."
                ]
            else:
                cap.cap = amount
        for currency, cap in caps.items():
            if cap.used:
                errors[f"{label}match_funding.{index}.caps"] = [f"{currency} already has matched gifts."]
            else:
                db.delete(cap)
    for funder, rule in existing.items():
        held = db.scalar(
            select(func.count()).where(MatchAllocation.rule_id == rule.id, MatchAllocation.matched > 0)
        )
        if held:
            errors[f"{label}match_funding"] = [f"{funder}'s rule has matched gifts and cannot be removed."]
        else:
            db.execute(delete(MatchAllocation).where(MatchAllocation.rule_id == rule.id))
            db.execute(delete(MatchCap).where(MatchCap.rule_id == rule.id))
            db.delete(rule)
    if errors:
        raise ValidationFailed("Appeal definitions are not valid.", fields=errors)
    db.flush()


def rules_for(db: Session, appeal_id: int) -> list[MatchRule]:
    return list(db.scalars(select(MatchRule).where(MatchRule.appeal_id == appeal_id).order_by(MatchRule.id)))
