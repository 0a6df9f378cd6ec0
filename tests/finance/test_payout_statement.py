"""A payout reconciled to the penny from the CSV files alone: the statement, Xero and QuickBooks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from tests.support.finance import sign_in


def read(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def payouts_by_currency(finance_get):
    return {row["currency"]: row for row in read(finance_get("/payouts?format=csv"))}


def test_statement_lines_sum_to_the_bank_amount_with_refunds_and_renewals(finance_get, built_ledger):
    payouts = payouts_by_currency(finance_get)
    for currency, payout in payouts.items():
        response = finance_get(f"/payouts/{payout['payout']}?format=csv")
        assert f'filename="payout-statement-{payout["payout"]}-' in response.headers["Content-Disposition"]
        lines = read(response)
        assert {line["currency"] for line in lines} == {currency}
        # From the file alone: the nets add up to the amount that reached the bank, exactly.
        assert sum(int(line["net_minor"]) for line in lines) == int(payout["amount_minor"])
        assert sum(Decimal(line["net"]) for line in lines) == Decimal(payout["amount"])
        for line in lines:
            assert int(line["gross_minor"]) - int(line["fee_minor"]) == int(line["net_minor"])
            assert line["donation_id"] and line["appeal"] == "red-cross-ukraine", line
    gbp = read(finance_get(f"/payouts/{payouts['gbp']['payout']}?format=csv"))
    refund = next(line for line in gbp if line["category"] == "refund")
    assert (refund["donation_id"], refund["gross"]) == (built_ledger.refunded, "-4.00")
    monthly = [
        line for line in gbp if line["category"] == "payment" and line["donation_id"] == built_ledger.monthly
    ]
    assert len(monthly) == 2  # the first month and its renewal


def test_xero_and_quickbooks_imports_net_to_zero_with_income_by_appeal_fees_and_refunds_apart(
    finance_get, built_ledger
):
    payout = payouts_by_currency(finance_get)["gbp"]
    xero = read(finance_get(f"/payouts/{payout['payout']}/accounting-import?software=xero"))
    assert list(xero[0]) == ["Date", "Amount", "Payee", "Description", "Reference", "Appeal"]
    by_description = {row["Description"]: Decimal(row["Amount"]) for row in xero}
    assert by_description["Donations – red-cross-ukraine"] == Decimal("25.00") + Decimal(
        "10.00"
    ) + 2 * Decimal("15.00")
    assert by_description["Refunds to donors – red-cross-ukraine"] == Decimal("-4.00")
    assert by_description["Stripe processing fees"] < 0
    assert by_description["Payout to the bank account"] == -Decimal(payout["amount"])
    assert sum(by_description.values()) == 0  # the Stripe clearing account is back to zero
    assert {row["Reference"] for row in xero} == {payout["payout"]}
    quickbooks = read(finance_get(f"/payouts/{payout['payout']}/accounting-import?software=quickbooks"))
    assert list(quickbooks[0]) == ["Date", "Description", "Amount"]
    assert [Decimal(row["Amount"]) for row in quickbooks] == [Decimal(row["Amount"]) for row in xero]
    assert all(row["Description"].endswith(f"({payout['payout']})") for row in quickbooks)


def test_statement_page_and_refusals(client, issue, finance_get, built_ledger):
    payout = payouts_by_currency(finance_get)["gbp"]["payout"]
    assert finance_get(f"/payouts/{payout}?format=csv", role="viewer").status_code == 403
    assert finance_get(f"/payouts/{payout}/accounting-import?software=sage").status_code == 422
    assert finance_get("/payouts/po_missing/accounting-import?software=xero").status_code == 404
    sign_in(client, issue("accountant"))
    page = client.get(f"/finance/payouts/{payout}/statement")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        "add up to" in html and "the amount paid to the bank" in html and "Xero bank statement (CSV)" in html
    )
    assert client.get(f"/finance/payouts/{payout}/xero.csv").mimetype == "text/csv"
    assert client.get(f"/finance/payouts/{payout}/statement.csv").mimetype == "text/csv"


def test_payout_detail_names_the_donation_of_every_line_refunds_included(finance_get, built_ledger):
    payout = payouts_by_currency(finance_get)["gbp"]["payout"]
    detail = finance_get(f"/payouts/{payout}").get_json()
    lines = detail["stripe"]["transactions"]
    refund = next(line for line in lines if line["type"] == "refund")
    assert refund["donation_id"] == built_ledger.refunded
    assert all(line["donation_id"] for line in lines)


def test_a_manual_payout_has_no_statement_and_says_why(app, client, sandbox, live_server, finance_get):
    from tests.support.finance import donate, stored_donation

    donation_id = donate(client, 4000)
    sandbox.control.complete_session(stored_donation(app, donation_id).stripe_checkout_session_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    (payout,) = sandbox.control.payout(currency="gbp", kind="manual")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    for path in (
        f"/payouts/{payout['id']}?format=csv",
        f"/payouts/{payout['id']}/accounting-import?software=xero",
    ):
        response = finance_get(path)
        assert response.status_code == 409, path
        error = response.get_json()["error"]
        assert error["code"] == "payout_not_itemised" and "made by hand" in error["message"]
