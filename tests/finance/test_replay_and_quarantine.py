"""A delivery the ledger set aside shows up as a discrepancy, and only an admin may replay it."""

from __future__ import annotations

from tests.ledger import payloads
from tests.service.helpers import VALID, load_donation
from tests.support.finance import bearer


def quarantined_event(app, client):
    created = client.post("/api/v1/donations", json=VALID).get_json()
    donation = load_donation(app, created["id"])
    evt = payloads.event(
        "checkout.session.completed", payloads.session(donation, amount_total=donation.amount + 1)
    )
    assert payloads.post(client, evt).status_code == 200
    return donation, evt


def test_quarantined_delivery_is_a_discrepancy_with_its_reason(app, client, finance_get):
    donation, evt = quarantined_event(app, client)
    found = finance_get("/discrepancies", role="viewer").get_json()
    assert found["counts"]["delivery_quarantined"] == 1
    item = next(i for i in found["items"] if i["kind"] == "delivery_quarantined")
    assert (item["event_id"], item["donation_id"]) == (evt["id"], donation.id)
    log = finance_get("/webhook-events?outcome=quarantined", role="viewer").get_json()["data"]
    assert [e["stripe_event_id"] for e in log] == [evt["id"]]


def test_only_admins_replay_and_the_replay_is_audited(app, client, issue, finance_get, db_session):
    _donation, evt = quarantined_event(app, client)
    (row,) = finance_get("/webhook-events?outcome=quarantined").get_json()["data"]
    path = f"/api/v1/finance/webhook-events/{row['id']}/replay"
    assert client.post(path, headers=bearer(issue("accountant"))).status_code == 403
    response = client.post(path, headers=bearer(issue("admin")))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["stripe_event_id"], body["replayed"], body["outcome"]) == (evt["id"], True, "quarantined")
    assert (
        client.post(
            "/api/v1/finance/webhook-events/999999/replay", headers=bearer(issue("admin"))
        ).status_code
        == 404
    )
