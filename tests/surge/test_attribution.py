"""A payment made through a surge Payment Link is attributed to its donation and appeal."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import select

from service.donations.models import Donation, DonationStatus
from service.models import Payment, WebhookEvent, WebhookOutcome
from tests.support.budgets import SpentBudget
from tests.support.gifts import ONE_OFF_GIFT as GIFT
from tests.support.ledger import deliver_all_events


def _pay_through_link(sandbox: Any, checkout_url: str) -> str:
    """Visit the donor's link as a browser would and pay; returns the Checkout Session id."""
    visit = requests.get(checkout_url, allow_redirects=False, timeout=5)
    assert visit.status_code == 303
    session_id = visit.headers["Location"].rsplit("/", 1)[-1]
    sandbox.control.complete_session(session_id, outcome="paid")
    return session_id


def test_payment_link_payment_is_attributed_to_the_redirected_donation(
    client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    assert created["status"] == DonationStatus.SURGE_REDIRECTED
    session_id = _pay_through_link(sandbox, created["checkout_url"])
    deliver_all_events(client, sandbox)

    donation = db_session.get(Donation, created["id"])
    assert donation.status == DonationStatus.PAID
    assert donation.stripe_checkout_session_id == session_id
    assert donation.appeal.slug == "red-cross-ukraine" and not donation.needs_attention
    payments = db_session.scalars(select(Payment).where(Payment.donation_id == donation.id)).all()
    # The donor chooses the amount again on the link's page (the sandbox charges its preset, £50):
    # the ledger records what was paid.
    assert [(p.amount, p.currency) for p in payments] == [(5000, "gbp")]
    assert donation.amount == 5000
    completed = db_session.scalar(
        select(WebhookEvent).where(WebhookEvent.type == "checkout.session.completed")
    )
    assert completed.outcome == WebhookOutcome.PROCESSED and completed.donation_id == donation.id
    quarantined = db_session.scalars(
        select(WebhookEvent).where(WebhookEvent.outcome == WebhookOutcome.QUARANTINED)
    )
    assert quarantined.all() == []


def test_link_payment_without_a_donation_reference_is_set_aside_for_finance(
    client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    bare_link = created["checkout_url"].split("?")[0]  # someone shared the link without the reference
    _pay_through_link(sandbox, bare_link)
    deliver_all_events(client, sandbox)
    completed = db_session.scalar(
        select(WebhookEvent).where(WebhookEvent.type == "checkout.session.completed")
    )
    assert completed.outcome == WebhookOutcome.QUARANTINED
    assert completed.outcome_reason == "payment_link_without_donation"
    assert db_session.get(Donation, created["id"]).status == DonationStatus.SURGE_REDIRECTED


def test_link_payment_naming_a_donation_of_another_currency_is_not_applied(
    client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    gbp = client.post("/api/v1/donations", json=GIFT).get_json()
    eur = client.post("/api/v1/donations", json={**GIFT, "currency": "eur"}).get_json()
    # The euro link, carrying the pound donation's id (an edited URL).
    forged = eur["checkout_url"].replace(eur["id"], gbp["id"])
    _pay_through_link(sandbox, forged)
    deliver_all_events(client, sandbox)
    completed = db_session.scalar(
        select(WebhookEvent).where(WebhookEvent.type == "checkout.session.completed")
    )
    assert completed.outcome == WebhookOutcome.QUARANTINED
    assert completed.outcome_reason == "payment_link_other_appeal"
    assert db_session.get(Donation, gbp["id"]).status == DonationStatus.SURGE_REDIRECTED


def test_link_session_without_any_metadata_is_attributed_by_its_reference(
    client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    created = client.post("/api/v1/donations", json=GIFT).get_json()
    session_id = _pay_through_link(sandbox, created["checkout_url"])
    deliver_all_events(client, sandbox, strip_session_metadata=True)
    donation = db_session.get(Donation, created["id"])
    assert donation.status == DonationStatus.PAID and donation.stripe_checkout_session_id == session_id
