"""A monthly Direct Debit gift whose mandate the donor cancels at their bank: the ledger marks it,
finance sees it at risk, the next debit fails and the donor is asked for a new way to pay (not a
new card), and once Stripe's retries end the gift it leaves the list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.emails import compose
from service.outbox import OutboxMessage
from tests.support.finance import sign_in

SECTION = "Monthly gifts at risk: Direct Debit cancelled at the bank"


def _donation(client: Any, donation_id: str) -> Donation:
    app = client.application
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, donation_id)
        assert donation is not None
        db.expunge(donation)
        return donation


def _failed_payment_emails(client: Any, donation_id: str) -> list[str]:
    app = client.application
    with app.app_context(), extensions.database(app).sessionmaker() as db:
        rows = db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.donation_id == donation_id, OutboxMessage.kind == "payment_failed"
            )
        ).all()
        return [compose(db, row, extensions.settings(app)).message["Subject"] for row in rows]


def test_a_cancelled_mandate_puts_the_gift_at_risk_until_stripe_ends_it(
    client: Any, sandbox: Any, live_server: Any, issue: Any, finance_get: Any
) -> None:
    body = {"appeal": "red-cross-ukraine", "amount": 1500, "currency": "gbp", "frequency": "monthly",
            "pay_by": "bank_debit", "email": "sortcode@example.org"}  # fmt: skip
    created = client.post("/api/v1/donations", json=body)
    assert created.status_code == 201, created.get_json()
    donation_id = created.get_json()["id"]
    session_id = created.get_json()["checkout_url"].rsplit("/", 1)[1]
    sandbox.control.complete_session(session_id, "async")
    sandbox.control.settle_async_payment(session_id, "succeeded")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    paid = _donation(client, donation_id)
    assert paid.status == DonationStatus.PAID
    assert paid.stripe_mandate_id and paid.stripe_mandate_id.startswith("mandate_")
    assert paid.mandate_status == "active"
    sign_in(client, issue("viewer"))
    assert SECTION not in client.get("/finance/").get_data(as_text=True)

    # The donor cancels the Direct Debit at their bank.
    sandbox.control.revoke_mandate(paid.stripe_mandate_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    marked = _donation(client, donation_id)
    assert (marked.mandate_status, marked.status) == ("inactive", DonationStatus.PAID)
    html = client.get("/finance/").get_data(as_text=True)
    row = html.split(SECTION, 1)[1].split('<th scope="row">red-cross-ukraine</th>', 1)[1].split("</tr>", 1)[0]
    assert "<td>GBP</td>" in row and '<td class="num">1</td>' in row and '<td class="num">£15.00</td>' in row
    # The same gift is in finance's one list of monthly gifts at risk (API, CSV and page).
    (listed,) = [
        g for g in finance_get("/monthly-gifts").get_json()["at_risk"] if g["donation_id"] == donation_id
    ]
    assert (listed["mandate_status"], listed["subscription_status"], listed["amount"]) == (
        "inactive",
        "active",
        1500,
    )
    assert listed["since"] is not None
    page = client.get("/finance/monthly-gifts").get_data(as_text=True)
    assert donation_id in page and "Direct Debit cancelled at the bank" in page

    # Stripe's next debit on it fails; the donor is asked for a new way to pay, not a new card.
    invoice = sandbox.control.advance_subscription(marked.stripe_subscription_id, "paid")
    assert invoice["status"] == "open"
    assert sandbox.control.wait_for_webhooks(timeout=20)
    assert _donation(client, donation_id).subscription_status == "past_due"
    assert _failed_payment_emails(client, donation_id) == [
        "Your monthly gift to Red Cross Emergency Appeal (Ukraine) could not be taken: please choose a new "
        "way to pay"
    ]

    # Stripe's retries fail too, and the last one ends the gift: it leaves the list.
    for _ in range(3):
        sandbox.control.retry_invoice(invoice["id"], "failed")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    ended = _donation(client, donation_id)
    assert (ended.status, ended.subscription_status) == (DonationStatus.CANCELLED, "canceled")
    assert SECTION not in client.get("/finance/").get_data(as_text=True)
    at_risk = finance_get("/monthly-gifts").get_json()["at_risk"]
    assert donation_id not in [g["donation_id"] for g in at_risk]


def test_a_mandate_the_ledger_never_saw_paid_is_ignored(client: Any, sandbox: Any, live_server: Any) -> None:
    """A refused first debit's mandate.updated names no gift the ledger knows by it: ignored, not failed."""
    body = {"appeal": "red-cross-ukraine", "amount": 3000, "currency": "eur", "pay_by": "bank_debit"}
    created = client.post("/api/v1/donations", json=body)
    session_id = created.get_json()["checkout_url"].rsplit("/", 1)[1]
    sandbox.control.complete_session(session_id, "async")
    sandbox.control.settle_async_payment(session_id, "failed")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    from service.models import WebhookEvent

    app = client.application
    with extensions.database(app).sessionmaker() as db:
        outcomes = list(
            db.scalars(select(WebhookEvent.outcome).where(WebhookEvent.type == "mandate.updated"))
        )
    assert outcomes == ["ignored"]
    assert _donation(client, created.get_json()["id"]).status == DonationStatus.FAILED
