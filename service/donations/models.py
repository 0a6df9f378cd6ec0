"""The donations package's own table: surge mode's pre-created Payment Links, one per appeal and
currency (service/donations/payment_links.py uses them). Registered for Alembic through
service/tables.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, utcnow


class PaymentLink(Base):
    __tablename__ = "payment_links"
    __table_args__ = (UniqueConstraint("appeal_id", "currency", name="uq_payment_links_appeal_currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    currency: Mapped[str] = mapped_column(String(3))
    stripe_payment_link_id: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
