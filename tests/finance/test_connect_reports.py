"""Finance sees both sides of a Connect appeal: the platform's charge and fee, the charity's transfer and payout."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from service import extensions
from service.models import Appeal
from tests.support.finance import donate, sign_in, stored_donation
from tests.support.ledger import delivered

CHARITY = "acct_1RedCrossUK"


def test_reports_show_what_the_charity_received_apart_from_what_the_platform_paid(
    app: Any, client: Any, sandbox: Any, live_server: Any, finance_get: Any, issue: Any
) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Appeal).where(Appeal.slug == "red-cross-ukraine").values(stripe_account=CHARITY))
    extensions.appeal_cache(app).clear()  # the appeal changed: workers re-read it
    donation_id = donate(client, 3000)
    sandbox.control.complete_session(stored_donation(app, donation_id).stripe_checkout_session_id, "paid")
    delivered(sandbox)
    (charity_payout,) = sandbox.control.payout(currency="gbp", account=CHARITY)
    delivered(sandbox)

    report = finance_get("/reconciliation?group_by=appeal", role="viewer").get_json()
    (platform,) = report["groups"]
    assert (platform["key"], platform["gross"]) == ("red-cross-ukraine", 3000)
    assert platform["fees"] > 0  # the platform pays Stripe's fee on a destination charge
    assert report["transferred"] == [
        {"appeal": "red-cross-ukraine", "account": CHARITY, "currency": "gbp", "transfers": 1,
         "amount": 3000, "reversed": 0, "received": 3000, "paid_out": 1}
    ]  # fmt: skip

    payouts = finance_get("/payouts", role="viewer").get_json()["data"]
    (listed,) = payouts
    assert (listed["account"], listed["transfers_amount"], listed["payments_net"]) == (CHARITY, 3000, 0)
    detail = finance_get(f"/payouts/{charity_payout['id']}", role="viewer").get_json()
    assert [t["donation_id"] for t in detail["transfers"]] == [donation_id]
    # Stripe's statement of the charity's payout, read as the charity's account, matches the ledger.
    assert detail["stripe"]["available"] and detail["adds_up"]
    # The dashboard and the payouts page say which side each figure is on.
    sign_in(client, issue("viewer"))
    dashboard = client.get("/finance/").get_data(as_text=True)
    assert "Received by charities" in dashboard and CHARITY in dashboard
    listing = client.get("/finance/payouts").get_data(as_text=True)
    assert f"charity <code>{CHARITY}</code>" in listing


def test_a_charitys_payout_statement_and_the_platforms_month_name_the_transfer(
    app: Any, client: Any, sandbox: Any, live_server: Any, finance_get: Any
) -> None:
    import csv
    import io

    from service.models import utcnow

    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Appeal).where(Appeal.slug == "red-cross-ukraine").values(stripe_account=CHARITY))
    extensions.appeal_cache(app).clear()
    donation_id = donate(client, 3000)
    sandbox.control.complete_session(stored_donation(app, donation_id).stripe_checkout_session_id, "paid")
    delivered(sandbox)
    (charity_payout,) = sandbox.control.payout(currency="gbp", account=CHARITY)
    delivered(sandbox)

    response = finance_get(f"/payouts/{charity_payout['id']}?format=csv")
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(line["category"], line["donation_id"], line["appeal"]) for line in lines] == [
        ("payment", donation_id, "red-cross-ukraine")
    ]
    assert sum(int(line["net_minor"]) for line in lines) == charity_payout["amount"] == 3000

    month = finance_get(f"/month-end?month={utcnow():%Y-%m}").get_json()["lines"]
    transfer = next(line for line in month if line["category"] == "transfer")
    assert (transfer["amount"], transfer["transactions"], transfer["settlement_currency"]) == (
        -3000,
        1,
        "gbp",
    )
    unmatched = next(line for line in month if line["section"] == "not_from_this_service")
    assert unmatched["transactions"] == 0
