"""Payment Link sessions as live Stripe makes them: one per visit, events in any order, Connect routing."""

from __future__ import annotations

from typing import Any

import requests
import stripe
from sqlalchemy import select, update

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.models import Appeal, Payment, Transfer, WebhookEvent, WebhookOutcome
from tests.support.budgets import SpentBudget
from tests.support.gifts import ONE_OFF_GIFT as GIFT
from tests.support.ledger import deliver_all_events

CHARITY = "acct_1RedCrossUK"


def _visit(checkout_url: str) -> str:
    """One visit to the donor's link: Stripe opens a new Checkout Session each time."""
    visit = requests.get(checkout_url, allow_redirects=False, timeout=5)
    assert visit.status_code == 303
    return visit.headers["Location"].rsplit("/", 1)[-1]


def _surge_over(app: Any) -> None:
    """The night's rush has passed: webhooks and pages may call Stripe again."""
    extensions.stripe_gateway(app).budget = None


def _quarantined(db_session: Any) -> list[WebhookEvent]:
    return list(
        db_session.scalars(select(WebhookEvent).where(WebhookEvent.outcome == WebhookOutcome.QUARANTINED))
    )


def test_fee_is_recorded_when_the_charge_events_come_before_the_session_completes(
    app: Any, client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    _surge_over(app)
    session_id = _visit(created["checkout_url"])
    sandbox.control.complete_session(session_id, outcome="paid")
    # Oldest first, as the sandbox emitted them: charge.succeeded and charge.updated (with the
    # balance transaction) arrive before checkout.session.completed names the donation.
    deliver_all_events(client, sandbox)

    (payment,) = db_session.scalars(select(Payment).where(Payment.donation_id == created["id"]))
    assert payment.stripe_charge_id and payment.balance_transaction_id
    assert payment.fee is not None and payment.fee > 0
    assert payment.net == payment.amount - payment.fee
    charge_events = db_session.scalars(select(WebhookEvent).where(WebhookEvent.type.like("charge.%"))).all()
    # They named no donation, so they waited for their payment; the completed session recorded it
    # and took them up again, so none is left waiting (it would show in the discrepancy report).
    assert charge_events and {e.outcome for e in charge_events} <= {
        WebhookOutcome.PROCESSED,
        WebhookOutcome.DUPLICATE,
    }
    assert _quarantined(db_session) == []


def test_an_abandoned_link_session_never_touches_the_donation_paid_through_another_visit(
    app: Any, client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    _surge_over(app)
    first, second = _visit(created["checkout_url"]), _visit(created["checkout_url"])
    assert first != second
    sandbox.control.expire_session(first)  # the donor went back; the first visit lapses first
    sandbox.control.complete_session(second, outcome="paid")
    abandoned_later = _visit(created["checkout_url"])  # and a third tab lapses after the payment
    sandbox.control.expire_session(abandoned_later)
    deliver_all_events(client, sandbox)

    donation = db_session.get(Donation, created["id"])
    assert donation.status == DonationStatus.PAID
    assert donation.stripe_checkout_session_id == second
    assert not donation.needs_attention
    assert _quarantined(db_session) == []
    expired = db_session.scalars(
        select(WebhookEvent).where(WebhookEvent.type == "checkout.session.expired")
    ).all()
    assert len(expired) == 2 and {e.outcome for e in expired} == {WebhookOutcome.IGNORED}


def test_thank_you_page_shows_a_link_donation_before_its_webhook(
    app: Any, client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    _surge_over(app)
    session_id = _visit(created["checkout_url"])
    sandbox.control.complete_session(session_id, outcome="paid")
    # No event delivered: only Stripe knows which donation the session paid.
    page = client.get(f"/donate/red-cross-ukraine/thanks?session_id={session_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Thank you" in html and created["id"] in html and "£50<" in html
    donation = db_session.get(Donation, created["id"])
    assert donation.status == DonationStatus.PAID and donation.stripe_checkout_session_id == session_id
    # The webhook then finds it done, and a stranger's session id still finds nothing.
    deliver_all_events(client, sandbox)
    assert db_session.get(Donation, created["id"]).status == DonationStatus.PAID
    assert client.get("/donate/red-cross-ukraine/thanks?session_id=cs_test_nothing").status_code == 404


def test_link_of_a_connect_appeal_routes_the_payment_to_the_charity(
    app: Any, client: Any, sandbox: Any, runner: Any, db_session: Any
) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Appeal).where(Appeal.slug == "red-cross-ukraine").values(stripe_account=CHARITY))
    extensions.appeal_cache(app).clear()  # the appeal changed: workers re-read it
    result = runner.invoke(args=["surge", "payment-links", "create"])
    assert result.exit_code == 0, result.output
    sent = sandbox.control.requests(path="/v1/payment_links", method="POST")
    assert sent and all(r["params"]["on_behalf_of"] == CHARITY for r in sent)
    assert all(r["params"]["transfer_data"] == {"destination": CHARITY} for r in sent)
    assert all(r["params"]["payment_intent_data"]["metadata"]["appeal"] == "red-cross-ukraine" for r in sent)

    extensions.stripe_gateway(app).budget = SpentBudget()
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    assert created["status"] == DonationStatus.SURGE_REDIRECTED
    _surge_over(app)
    session_id = _visit(created["checkout_url"])
    sandbox.control.complete_session(session_id, outcome="paid")
    deliver_all_events(client, sandbox)

    (payment,) = db_session.scalars(select(Payment).where(Payment.donation_id == created["id"]))
    stripe_client = stripe.StripeClient("sk_test_links", base_addresses={"api": sandbox.base_url})
    charge = stripe_client.v1.charges.retrieve(payment.stripe_charge_id)
    assert charge.on_behalf_of == CHARITY and charge.metadata["appeal"] == "red-cross-ukraine"
    (transfer,) = db_session.scalars(select(Transfer).where(Transfer.donation_id == created["id"]))
    assert (transfer.destination_account, transfer.amount) == (CHARITY, payment.amount)
    assert payment.fee is not None
    assert _quarantined(db_session) == []
