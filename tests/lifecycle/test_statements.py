"""Annual statements: each donor's gifts in the tax year, once, with Gift Aid wording where declared."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from service import extensions
from service.donations.models import Donation
from service.jobs import deliver_due
from service.models import Appeal, Payment
from service.outbox import OutboxMessage
from service.statements import last_completed, tax_year_containing


@pytest.mark.parametrize(
    ("kind", "day", "label", "start", "end"),
    [
        ("uk", date(2026, 4, 5), "2025-26", date(2025, 4, 6), date(2026, 4, 6)),
        ("uk", date(2026, 4, 6), "2026-27", date(2026, 4, 6), date(2027, 4, 6)),
        ("calendar", date(2026, 12, 31), "2026", date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_tax_years(kind, day, label, start, end):
    year = tax_year_containing(kind, day)
    assert (year.label, year.start, year.end) == (label, start, end)


def test_last_completed_year():
    assert last_completed("uk", date(2026, 4, 10)).label == "2025-26"
    assert last_completed("calendar", date(2027, 1, 2)).label == "2026"


def _gift(
    db: Any, email: str, amount: int, paid: datetime, *, refunded: int = 0, gift_aid: bool = False, n: int
) -> None:
    appeal = db.scalar(select(Appeal))
    donation = Donation(appeal_id=appeal.id, amount=amount, currency="gbp", frequency="one_off", status="paid",
                        email=email, paid_at=paid, gift_aid=gift_aid,
                        gift_aid_declared_at=paid if gift_aid else None)  # fmt: skip
    db.add(donation)
    db.flush()
    db.add(Payment(donation_id=donation.id, kind="one_off", stripe_payment_intent_id=f"pi_statement_{n}",
                   amount=amount, currency="gbp", amount_refunded=refunded, paid_at=paid))  # fmt: skip


def test_statement_lists_the_years_gifts_once_per_donor(mail_app, smtp):
    sessions = extensions.database(mail_app).sessionmaker
    with sessions() as db:
        _gift(db, "giver@example.org", 2500, datetime(2025, 5, 1, 12, tzinfo=UTC), gift_aid=True, n=1)
        _gift(db, "Giver@Example.org", 1000, datetime(2026, 3, 1, 12, tzinfo=UTC), n=2)
        _gift(db, "giver@example.org", 700, datetime(2026, 3, 2, 12, tzinfo=UTC), refunded=700, n=3)
        _gift(db, "giver@example.org", 9900, datetime(2026, 4, 7, 12, tzinfo=UTC), n=4)  # next tax year
        db.commit()
        # The receipts those payments would have queued are not what this test is about.
        db.execute(update(OutboxMessage).values(status="sent"))
        db.commit()
    runner = mail_app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["mail", "statements", "--today", "2026-04-10"])
        assert "tax year 2025-26" in result.output
    with mail_app.app_context():
        deliver_due.call_local()
    with sessions() as db:
        (row,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "annual_statement"))
    assert row.id.startswith("statement:2025-26:") and row.status == "sent"
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "Your giving to British Red Cross in 2025-26"
    text = mail.get_body(("plain",)).get_content()
    assert "6 April 2025 to 5 April 2026" in text
    assert "£25  (Gift Aid)" in text and "£10" in text
    assert "£7" not in text and "£99" not in text  # refunded, and next year's
    assert "Total: £35" in text
    assert "Gift Aid declaration" in text
    # Weeks later nothing more is queued.
    result = runner.invoke(args=["mail", "statements", "--today", "2026-06-01"])
    assert "Queued 0" in result.output
