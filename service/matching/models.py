"""Match funding's tables: rules, caps per currency, and one allocation per rule and payment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, utcnow


class MatchRule(Base):
    """A funder's rule for one appeal: ratio, window and who is eligible (caps: :class:`MatchCap`)."""

    __tablename__ = "match_rules"
    __table_args__ = (UniqueConstraint("appeal_id", "funder", name="uq_match_rules_appeal_funder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    funder: Mapped[str] = mapped_column(String(200))
    # "2:1" is two of the funder's pounds for every pound given: matched = gift * funder / donor.
    ratio_funder: Mapped[int] = mapped_column(Integer)
    ratio_donor: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    individual_donors: Mapped[bool] = mapped_column(Boolean, default=True)
    # Evidence of UK residence accepted (any one): gift_aid_declaration, postcode. Empty: no rule.
    uk_residence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Which payments count: one_off, first_monthly.
    payments: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def ratio(self) -> str:
        return f"{self.ratio_funder}:{self.ratio_donor}"

    def is_live(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )


class MatchCap(Base):
    """The most a funder will match in one currency, and how much of it gifts hold now.

    ``used`` only moves by conditional updates (service/matching/ledger.py), so it can never pass
    ``cap`` however many payments are matched at once.
    """

    __tablename__ = "match_caps"
    __table_args__ = (UniqueConstraint("rule_id", "currency", name="uq_match_caps_rule_currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("match_rules.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    cap: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class MatchStatus:
    MATCHED = "matched"  # the whole of ratio x gift
    PARTLY_MATCHED = "partly_matched"  # the cap ran out part-way
    NOT_MATCHED = "not_matched"  # not eligible, or nothing of the gift is left (refunded, lost dispute)


class MatchAllocation(Base):
    """One payment judged against one rule: what was matched, or why not, and the evidence."""

    __tablename__ = "match_allocations"
    __table_args__ = (
        UniqueConstraint("rule_id", "payment_id", name="uq_match_allocations_rule_payment"),
        Index("ix_match_allocations_rule_paid", "rule_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("match_rules.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    donation_id: Mapped[str] = mapped_column(ForeignKey("donations.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    gift_amount: Mapped[int] = mapped_column(BigInteger)  # the gift as it counts now (net of refunds)
    matched: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))  # why not (fully) matched
    # The evidence the rule needed: how UK residence was shown, and the postcode district only.
    residence_evidence: Mapped[str | None] = mapped_column(String(32))
    postcode_district: Mapped[str | None] = mapped_column(String(8))
    payment_kind: Mapped[str] = mapped_column(String(16))  # one_off | first_monthly | monthly
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
