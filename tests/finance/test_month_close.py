"""A month closed from the CSV files alone, as a finance officer would: gifts in GBP, EUR and USD
on an account that settles in GBP, a partial refund, a lost dispute with its fee, a monthly
renewal and the payout. Nothing here reads the database or the JSON API: only the exports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal
from typing import Any

from service.models import utcnow
from tests.support.finance import donate, stored_donation


def read(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def delivered(sandbox: Any) -> None:
    assert sandbox.control.wait_for_webhooks(timeout=20), "webhook deliveries did not finish"


def test_a_month_reconciles_to_the_penny_from_the_csv_files_alone(
    app: Any, client: Any, sandbox: Any, live_server: Any, finance_get: Any
) -> None:
    control = sandbox.control
    control.configure(settlement_currency="gbp", exchange_rates={"eur": 0.85, "usd": 0.79})
    gifts = {
        "pounds": donate(client, 2500),
        "euros": donate(client, 3000, "eur"),
        "dollars": donate(client, 4000, "usd"),
        "disputed": donate(client, 6000),
        "monthly": donate(client, 1500, frequency="monthly"),
    }
    for donation_id in gifts.values():
        control.complete_session(stored_donation(app, donation_id).stripe_checkout_session_id)
    delivered(sandbox)
    control.configure(exchange_rates={"eur": 0.80})  # the refund converts at its own day's rate
    control.refund(stored_donation(app, gifts["euros"]).stripe_payment_intent_id, amount=1000)
    dispute = control.open_dispute(stored_donation(app, gifts["disputed"]).stripe_payment_intent_id)
    control.close_dispute(dispute["id"], outcome="lost")
    control.advance_subscription(stored_donation(app, gifts["monthly"]).stripe_subscription_id)
    delivered(sandbox)
    (payout,) = [p for p in control.payout() if p["currency"] == "gbp"]
    delivered(sandbox)

    # 1. The bank line: one payout in pounds.
    (listed,) = read(finance_get("/payouts?format=csv"))
    assert (listed["payout"], listed["currency"], int(listed["amount_minor"])) == (
        payout["id"],
        "gbp",
        payout["amount"],
    )

    # 2. The payout statement explains it line by line, to the penny, every line a donation's.
    lines = read(finance_get(f"/payouts/{listed['payout']}?format=csv"))
    assert {line["currency"] for line in lines} == {"gbp"}
    assert sum(Decimal(line["net"]) for line in lines) == Decimal(listed["amount"])
    assert sum(int(line["net_minor"]) for line in lines) == int(listed["amount_minor"])
    assert all(line["donation_id"] in gifts.values() for line in lines)
    kinds = defaultdict(list)
    for line in lines:
        kinds[line["category"]].append(line)
    assert len(kinds["payment"]) == 6  # five gifts and the monthly renewal
    (refund,) = kinds["refund"]
    assert (refund["donation_id"], refund["gross"]) == (gifts["euros"], "-8.00")  # €10 at 0.80
    (withdrawn,) = kinds["dispute"]
    (dispute_fee,) = kinds["dispute_fee"]
    assert (withdrawn["donation_id"], withdrawn["gross"]) == (gifts["disputed"], "-60.00")
    assert dispute_fee["donation_id"] == gifts["disputed"] and Decimal(dispute_fee["net"]) < 0

    # 3. The payments export agrees with the statement: each payment's settlement amount and fee
    #    are the statement's payment line for that charge.
    payments = read(finance_get("/payments"))
    assert {p["settlement_currency"] for p in payments} == {"gbp"}
    by_donation: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for p in payments:
        by_donation[p["donation_id"]].append((p["settlement_amount"], p["fee"]))
    for line in kinds["payment"]:
        assert (line["gross"], line["fee"]) in by_donation[line["donation_id"]]
    euros = next(p for p in payments if p["donation_id"] == gifts["euros"])
    assert (euros["currency"], euros["amount"], euros["settlement_amount"]) == ("eur", "30.00", "25.50")

    # 4. The month end: opening + activity + payouts = closing, in pounds only.
    month = read(finance_get(f"/month-end?month={utcnow():%Y-%m}&format=csv"))
    assert {row["settlement_currency"] for row in month} == {"gbp"}
    total = {(r["section"], r["category"], r["appeal"]): Decimal(r["amount"]) for r in month}
    moved = sum(Decimal(r["amount"]) for r in month if r["section"] in ("activity", "payouts"))
    assert (
        total[("closing_balance", "closing_balance", "")]
        == total[("opening_balance", "opening_balance", "")] + moved
    )
    assert total[("payouts", "payouts", "")] == -Decimal(listed["amount"])
    assert total[("activity", "dispute_fee", "")] == Decimal(dispute_fee["net"])
    assert total[("not_from_this_service", "not_matched_to_a_donation", "")] == 0

    # 5. The books: the Xero file moves the clearing account back to zero and the payout matches
    #    the bank deposit.
    xero = read(finance_get(f"/payouts/{listed['payout']}/accounting-import?software=xero"))
    assert sum(Decimal(row["Amount"]) for row in xero) == 0
    assert xero[-1]["Description"] == "Payout to the bank account"
    assert Decimal(xero[-1]["Amount"]) == -Decimal(listed["amount"])

    # 6. The donations export: the monthly gift's two payments, the amount per payment beside.
    donations = {d["donation_id"]: d for d in read(finance_get("/donations?format=csv"))}
    monthly = donations[gifts["monthly"]]
    assert (monthly["amount_per_payment"], monthly["payments_collected"], monthly["total_collected"]) == (
        "15.00", "2", "30.00")  # fmt: skip
