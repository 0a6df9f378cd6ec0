"""The month-end report per settlement currency, read from its CSV alone."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

from service.models import utcnow
from tests.support.finance import bearer, sign_in


def read(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_month_end_csv_moves_the_opening_balance_to_the_closing_one(finance_get, built_ledger):
    month = utcnow().strftime("%Y-%m")
    response = finance_get(f"/month-end?month={month}&format=csv")
    assert f'filename="month-end-{month}-01-to-{month}-' in response.headers["Content-Disposition"]
    rows = read(response)
    blocks = defaultdict(list)
    for row in rows:
        assert Decimal(row["amount"]) * 100 == Decimal(row["amount_minor"])
        blocks[row["settlement_currency"]].append(row)
    for code, block in blocks.items():
        by = {(r["section"], r["category"], r["appeal"]): int(r["amount_minor"]) for r in block}
        opening = by[("opening_balance", "opening_balance", "")]
        moved = sum(int(r["amount_minor"]) for r in block if r["section"] in ("activity", "payouts"))
        assert by[("closing_balance", "closing_balance", "")] == opening + moved, code
        assert by[("not_from_this_service", "not_matched_to_a_donation", "")] == 0
    gbp = {(r["category"], r["appeal"]): r for r in blocks["gbp"]}
    assert gbp[("payment", "red-cross-ukraine")]["amount"] == str(
        Decimal("25.00") + Decimal("10.00") + 2 * Decimal("15.00")
    )
    assert gbp[("payment", "red-cross-ukraine")]["transactions"] == "4"  # the monthly gift twice
    assert gbp[("refund", "")]["amount"] == "-4.00"
    assert int(gbp[("fees", "")]["amount_minor"]) < 0
    payouts = {r["currency"]: r for r in read(finance_get("/payouts?format=csv"))}
    assert int(gbp[("payouts", "")]["amount_minor"]) == -int(payouts["gbp"]["amount_minor"])
    eur = {(r["category"], r["appeal"]): r for r in blocks["eur"]}
    assert eur[("dispute", "")]["amount"] == "-50.00"
    assert int(eur[("dispute_fee", "")]["amount_minor"]) < 0


def test_month_end_json_page_and_refusals(client, issue, finance_get, built_ledger):
    month = utcnow().strftime("%Y-%m")
    report = finance_get(f"/month-end?month={month}", role="viewer").get_json()
    assert report["month"] == month and {line["settlement_currency"] for line in report["lines"]} >= {"gbp"}
    assert finance_get(f"/month-end?month={month}&format=csv", role="viewer").status_code == 403
    assert finance_get("/month-end?month=2026-13").status_code == 422
    limited = bearer(issue("accountant", appeals=["red-cross-ukraine"]))
    assert client.get("/api/v1/finance/month-end", headers=limited).status_code == 403
    sign_in(client, issue("accountant"))
    page = client.get(f"/finance/month-end?month={month}").get_data(as_text=True)
    assert "Balance in GBP" in page and "Closing balance" in page and "Dispute fees" in page
    assert client.get(f"/finance/month-end.csv?month={month}").mimetype == "text/csv"
