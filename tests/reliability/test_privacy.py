"""Erasing a donor's personal data on request, and scrubbing old webhook payloads on schedule."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from service import extensions
from service.donations.models import Donation
from service.ledger.receiving import store_event
from service.models import Payment, WebhookEvent, WebhookOutcome, utcnow
from service.privacy import REDACTED_MARK

from ..service.helpers import VALID

EMAIL = "Erase.Me@Example.org"


def completed_event(event_id: str, donation_id: str | None, email: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1764064800,
        "livemode": False,
        "data": {
            "object": {
                "id": f"cs_test_{event_id}",
                "object": "checkout.session",
                "amount_total": 2500,
                "currency": "gbp",
                "client_reference_id": donation_id,
                "customer": "cus_test_erase",
                "customer_email": email,
                "customer_details": {
                    "email": email,
                    "name": "Erin Example",
                    "phone": "+44 20 7946 0000",
                    "address": {"line1": "1 Example Street", "postal_code": "EX1 1AA", "country": "GB"},
                },
                "metadata": {"donation_id": donation_id},
            }
        },
    }


def store(app: Any, event: dict[str, Any], *, outcome: str, age_days: int = 0) -> None:
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            store_event(db, event, json.dumps(event))
            db.execute(
                update(WebhookEvent)
                .where(WebhookEvent.stripe_event_id == event["id"])
                .values(outcome=outcome, received_at=utcnow() - timedelta(days=age_days))
            )
            db.commit()
        finally:
            db.close()


def donate(client: Any, email: str) -> str:
    response = client.post("/api/v1/donations", json={**VALID, "email": email})
    assert response.status_code == 201
    return response.get_json()["id"]


def payload_of(db_session: Any, event_id: str) -> str:
    db_session.expire_all()
    return db_session.scalar(select(WebhookEvent.payload).where(WebhookEvent.stripe_event_id == event_id))


def test_erase_removes_the_email_everywhere_and_keeps_amounts_and_stripe_ids(
    client: Any, app: Any, runner: Any, db_session: Any
) -> None:
    mine = [donate(client, EMAIL), donate(client, EMAIL.lower())]
    other = donate(client, "someone.else@example.org")
    db_session.execute(
        update(Donation).where(Donation.id.in_(mine)).values(stripe_customer_id="cus_test_erase")
    )
    db_session.add(Payment(donation_id=mine[0], kind="one_off", stripe_payment_intent_id="pi_keep",
                           amount=2500, currency="gbp"))  # fmt: skip
    db_session.commit()
    store(app, completed_event("evt_mine", mine[0], EMAIL), outcome=WebhookOutcome.PROCESSED)
    store(app, completed_event("evt_unmatched", None, EMAIL.lower()), outcome=WebhookOutcome.IGNORED)
    store(app, completed_event("evt_other", other, "someone.else@example.org"), outcome="processed")

    result = runner.invoke(args=["donors", "erase", EMAIL])
    assert result.exit_code == 0, result.output
    assert "donations: 2 changed" in result.output
    assert "webhook event payloads scrubbed: 2" in result.output
    assert "cus_test_erase" in result.output  # the operator is told to erase Stripe's copy too

    db_session.expire_all()
    for donation_id in mine:
        donation = db_session.get(Donation, donation_id)
        assert donation.email is None
        assert donation.amount == 2500 and donation.stripe_checkout_session_id
        assert donation.stripe_customer_id == "cus_test_erase"
    assert db_session.get(Donation, other).email == "someone.else@example.org"
    assert (
        db_session.scalar(select(Payment.amount).where(Payment.stripe_payment_intent_id == "pi_keep")) == 2500
    )
    for event_id in ("evt_mine", "evt_unmatched"):
        payload = payload_of(db_session, event_id)
        assert EMAIL.lower() not in payload.lower() and "Erin Example" not in payload
        assert "Example Street" not in payload and "7946" not in payload
        event = json.loads(payload)
        assert event[REDACTED_MARK] == "erasure"
        assert event["data"]["object"]["amount_total"] == 2500  # the ledger's facts survive
        assert event["data"]["object"]["customer"] == "cus_test_erase"
    assert "someone.else@example.org" in payload_of(db_session, "evt_other")


def test_erase_keeps_gift_aid_declarations_unless_told(client: Any, runner: Any, db_session: Any) -> None:
    donation_id = donate(client, EMAIL)
    declaration = {"gift_aid": True, "gift_aid_first_name": "Erin", "gift_aid_last_name": "Example",
                   "gift_aid_house": "1", "gift_aid_postcode": "EX1 1AA"}  # fmt: skip
    db_session.execute(update(Donation).where(Donation.id == donation_id).values(**declaration))
    db_session.commit()

    kept = runner.invoke(args=["donors", "erase", EMAIL])
    assert "Gift Aid declarations kept: 1" in kept.output
    db_session.expire_all()
    assert db_session.get(Donation, donation_id).gift_aid_last_name == "Example"

    db_session.execute(update(Donation).where(Donation.id == donation_id).values(email=EMAIL))
    db_session.commit()
    erased = runner.invoke(args=["donors", "erase", EMAIL, "--include-gift-aid"])
    assert "Gift Aid declarations erased: 1" in erased.output
    db_session.expire_all()
    donation = db_session.get(Donation, donation_id)
    assert donation.gift_aid_last_name is None and donation.gift_aid_postcode is None
    assert donation.email is None


def test_erase_dry_run_changes_nothing(client: Any, runner: Any, db_session: Any) -> None:
    donation_id = donate(client, EMAIL)
    result = runner.invoke(args=["donors", "erase", EMAIL, "--dry-run"])
    assert "Dry run" in result.output and "donations: 1 would change" in result.output
    db_session.expire_all()
    assert db_session.get(Donation, donation_id).email == EMAIL


def test_erase_for_an_unknown_address_says_so(runner: Any) -> None:
    result = runner.invoke(args=["donors", "erase", "nobody@example.org"])
    assert result.exit_code == 0 and "nothing found" in result.output
    assert runner.invoke(args=["donors", "erase", "not-an-email"]).exit_code == 2


def test_retention_scrubs_old_settled_payloads_only(app: Any, runner: Any, db_session: Any) -> None:
    store(app, completed_event("evt_old_done", None, EMAIL), outcome=WebhookOutcome.PROCESSED, age_days=100)
    store(app, completed_event("evt_old_stuck", None, EMAIL), outcome=WebhookOutcome.FAILED, age_days=100)
    store(app, completed_event("evt_recent", None, EMAIL), outcome=WebhookOutcome.PROCESSED, age_days=10)

    result = runner.invoke(args=["retention", "run"])  # default: 90 days
    assert "scrubbed 1 webhook payload(s) older than 90 days" in result.output
    assert EMAIL not in payload_of(db_session, "evt_old_done")
    assert json.loads(payload_of(db_session, "evt_old_done"))[REDACTED_MARK] == "retention"
    assert EMAIL in payload_of(db_session, "evt_old_stuck")  # a replay still needs it whole
    assert EMAIL in payload_of(db_session, "evt_recent")
    again = runner.invoke(args=["retention", "run"])
    assert "scrubbed 0" in again.output
    assert "scrubbed 1" in runner.invoke(args=["retention", "run", "--days", "5"]).output  # evt_recent
