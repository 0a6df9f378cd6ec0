"""Each report against a ledger the sandbox built: payments, refunds, a dispute, a renewal, payouts."""

from __future__ import annotations

from collections import defaultdict

from service import extensions
from tests.support.finance import stripe_balance


def test_reconciliation_matches_stripe_to_the_minor_unit(finance_get, built_ledger, sandbox):
    report = finance_get("/reconciliation?group_by=currency", role="viewer").get_json()
    lines = {line["currency"]: line for line in report["groups"]}
    assert set(lines) == {"gbp", "eur"}
    gbp, eur = lines["gbp"], lines["eur"]
    assert (gbp["payments"], gbp["gross"], gbp["refunded"], gbp["disputed"]) == (4, 6500, 400, 0)
    assert (eur["payments"], eur["gross"], eur["refunded"], eur["disputed"]) == (1, 5000, 0, 5000)
    charges = defaultdict(lambda: [0, 0, 0])
    for txn in stripe_balance(sandbox, type="charge"):
        for i, key in enumerate(("amount", "fee", "net")):
            charges[txn["currency"]][i] += txn[key]
    for code, line in lines.items():
        assert [line["settlement_gross"], line["fees"], line["net"]] == charges[code]
        assert line["without_fee_data"] == 0 and line["settlement_currency"] == code
    refunds = sum(-t["amount"] for t in stripe_balance(sandbox, type="refund"))
    assert gbp["refunded"] == gbp["settlement_refunded"] == refunds
    assert gbp["balance"] == gbp["net"] - 400
    assert eur["balance"] == eur["net"] - 5000
    # One total per currency and no grand total across them.
    assert [t["currency"] for t in report["totals"]] == ["eur", "gbp"]
    assert [t["settlement_currency"] for t in report["settlement_totals"]] == ["eur", "gbp"]


def test_reconciliation_groups_by_appeal_day_and_source(finance_get, built_ledger):
    by_appeal = finance_get("/reconciliation?group_by=appeal").get_json()
    assert {(g["key"], g["currency"]) for g in by_appeal["groups"]} == {
        ("red-cross-ukraine", "gbp"), ("red-cross-ukraine", "eur")}  # fmt: skip
    by_day = finance_get("/reconciliation?group_by=day").get_json()
    assert all(len(g["key"]) == 10 for g in by_day["groups"])
    assert sum(g["gross"] for g in by_day["groups"] if g["currency"] == "gbp") == 6500
    by_source = finance_get("/reconciliation?group_by=source").get_json()
    sources = {g["key"] for g in by_source["groups"]}
    assert "guardian" in sources


def test_donation_detail_has_money_and_timeline(finance_get, built_ledger):
    refunded = finance_get(f"/donations/{built_ledger.refunded}").get_json()
    assert refunded["status"] == "partially_refunded"
    assert refunded["money"]["refunded"] == 400 and refunded["money"]["fee"] > 0
    kinds = [entry["kind"] for entry in refunded["timeline"]]
    assert kinds[0] == "donation.created"
    assert "checkout.session.completed" in kinds and "charge.refunded" in kinds
    monthly = finance_get(f"/donations/{built_ledger.monthly}").get_json()
    assert monthly["money"]["payments"] == 2 and monthly["money"]["collected"] == 3000
    disputed = finance_get(f"/donations/{built_ledger.disputed}").get_json()
    assert disputed["money"]["dispute_status"] == "lost"


def test_donation_list_pages_with_an_opaque_cursor(finance_get, built_ledger):
    seen, cursor = [], ""
    while True:
        page = finance_get(f"/donations?limit=2{cursor}").get_json()
        seen += [d["id"] for d in page["data"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 5
    eur = finance_get("/donations?currency=eur").get_json()["data"]
    assert [d["id"] for d in eur] == [built_ledger.disputed]


def test_webhook_log_filters_and_shows_payload_to_accountants(finance_get, built_ledger):
    log = finance_get("/webhook-events?type=charge.*&limit=500", role="viewer").get_json()["data"]
    assert log and all(e["type"].startswith("charge.") for e in log)
    refunds = finance_get(f"/webhook-events?type=charge.refunded&donation={built_ledger.refunded}").get_json()
    (event,) = refunds["data"]
    as_viewer = finance_get(f"/webhook-events/{event['id']}", role="viewer").get_json()
    assert "payload" not in as_viewer
    as_accountant = finance_get(f"/webhook-events/{event['id']}").get_json()
    assert as_accountant["payload"]["type"] == "charge.refunded"


def test_payouts_add_up_against_stripes_statement(finance_get, built_ledger):
    listing = finance_get("/payouts", role="viewer").get_json()["data"]
    assert {p["currency"] for p in listing} == {p["currency"] for p in built_ledger.payouts}
    for payout in listing:
        detail = finance_get(f"/payouts/{payout['stripe_payout_id']}", role="viewer").get_json()
        assert detail["adds_up"], detail
        assert detail["stripe"]["totals"]["net"] == detail["amount"]
        charges = [t for t in detail["stripe"]["transactions"] if t["type"] == "charge"]
        assert charges and all(t["matches_ledger"] for t in charges)
    gbp = next(p for p in listing if p["currency"] == "gbp")
    assert gbp["payment_count"] == 4


def test_discrepancies_list_stale_pending_and_quarantined(finance_get, built_ledger, app, client):
    from datetime import timedelta

    from service.donations.models import Donation
    from service.models import utcnow

    clean = finance_get("/discrepancies").get_json()
    assert sum(clean["counts"].values()) == 0, clean["items"]
    with extensions.database(app).sessionmaker() as db:
        db.get(Donation, built_ledger.pending).checkout_expires_at = utcnow() - timedelta(minutes=5)
        db.commit()
    found = finance_get("/discrepancies").get_json()
    assert found["counts"]["pending_past_expiry"] == 1
    assert found["items"][0]["donation_id"] == built_ledger.pending


def test_discrepancies_find_missing_fees_and_amount_mismatches(finance_get, built_ledger, app):
    from datetime import timedelta

    from sqlalchemy import select

    from service.models import Payment, utcnow

    with extensions.database(app).sessionmaker() as db:
        (no_fee,) = db.scalars(select(Payment).where(Payment.donation_id == built_ledger.paid))
        no_fee.fee = no_fee.net = None
        no_fee.paid_at = utcnow() - timedelta(hours=2)
        (wrong,) = db.scalars(select(Payment).where(Payment.donation_id == built_ledger.refunded))
        wrong.amount += 1
        db.commit()
    found = finance_get("/discrepancies", role="viewer").get_json()
    assert found["counts"]["paid_without_fee"] == 1
    assert found["counts"]["amount_mismatch"] == 1
    kinds = {(i["kind"], i["donation_id"]) for i in found["items"]}
    assert {("paid_without_fee", built_ledger.paid), ("amount_mismatch", built_ledger.refunded)} <= kinds
    totals = finance_get("/reconciliation?group_by=currency").get_json()
    gbp = next(g for g in totals["groups"] if g["currency"] == "gbp")
    assert gbp["without_fee_data"] == 1


def test_payment_stripe_reported_but_ledger_lacks_is_a_discrepancy(finance_get, client):
    from tests.ledger import payloads

    evt = payloads.event("payment_intent.succeeded", {"id": "pi_unknown_to_the_ledger", "object": "payment_intent",
                                               "amount": 1000, "currency": "gbp", "metadata": {}})  # fmt: skip
    assert payloads.post(client, evt).status_code == 200
    found = finance_get("/discrepancies").get_json()
    missing = [i for i in found["items"] if i["kind"] == "payment_missing_from_ledger"]
    assert [i["event_id"] for i in missing] == [evt["id"]]


def test_an_inquiry_withdraws_nothing_an_open_dispute_does(finance_get, built_ledger, db_session):
    """Stripe takes no funds for an inquiry (warning_*); the report and the appeal totals agree."""
    from sqlalchemy import update

    from service.models import Payment

    def gbp_line():
        report = finance_get("/reconciliation?group_by=currency").get_json()
        return next(line for line in report["groups"] if line["currency"] == "gbp")

    before = gbp_line()
    paid = built_ledger.paid
    for status, withdrawn in (
        ("warning_needs_response", 0),
        ("warning_under_review", 0),
        ("needs_response", 1000),
    ):
        db_session.execute(
            update(Payment)
            .where(Payment.donation_id == paid)
            # As the dispute's balance transactions report it: an inquiry has none.
            .values(dispute_status=status, dispute_amount=1000, settlement_disputed=withdrawn)
        )
        db_session.commit()
        line = gbp_line()
        assert line["disputed"] == before["disputed"] + withdrawn, status
        assert line["balance"] == before["balance"] - withdrawn, status
