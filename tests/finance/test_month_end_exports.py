"""Month-end from the exports: decimal money beside minor units, the currency in every row,
files named for the period they cover, donations listed per payment, plain refusals."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from service import extensions
from tests.support.finance import sign_in


def read(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_donations_csv_has_decimal_and_minor_money_and_what_monthly_gifts_collected(
    finance_get, built_ledger
):
    rows = {r["donation_id"]: r for r in read(finance_get("/donations?format=csv"))}
    monthly = rows[built_ledger.monthly]
    assert (monthly["currency"], monthly["amount_per_payment"], monthly["amount_per_payment_minor"]) == (
        "gbp", "15.00", "1500")  # fmt: skip
    # Renewed once: two payments, and the total is theirs, not one month's.
    assert (monthly["payments_collected"], monthly["total_collected"], monthly["total_collected_minor"]) == (
        "2", "30.00", "3000")  # fmt: skip
    assert monthly["settlement_currency"] == "gbp"
    assert Decimal(monthly["stripe_fee"]) * 100 == Decimal(monthly["stripe_fee_minor"]) > 0
    assert Decimal(monthly["net"]) + Decimal(monthly["stripe_fee"]) == Decimal("30.00")
    refunded = rows[built_ledger.refunded]
    assert (refunded["refunded"], refunded["refunded_minor"]) == ("4.00", "400")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", monthly["created_at"])


def test_csv_files_are_named_for_the_period_they_cover(finance_get, built_ledger):
    response = finance_get("/payments?from=2026-11-01&to=2026-11-30")
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="payments-2026-11-01-to-2026-11-30.csv"'
    )
    response = finance_get("/gift-aid?from=2026-11-01&to=2026-11-30")
    assert 'filename="gift-aid-2026-11-01-to-2026-11-30.csv"' in response.headers["Content-Disposition"]
    listing = finance_get("/donations?format=csv")
    assert re.search(r'filename="donations-to-\d{4}-\d\d-\d\d\.csv"', listing.headers["Content-Disposition"])


def test_a_viewer_asking_for_an_export_gets_a_plain_403(finance_get, client, issue):
    for path in (
        "/donations?format=csv",
        "/payments",
        "/reconciliation?format=csv",
        "/discrepancies?format=csv",
    ):
        response = finance_get(path, role="viewer")
        assert response.status_code == 403, path
        assert response.get_json()["error"]["message"] == (
            "Downloading exports needs an accountant or admin token; this token is a viewer, "
            "which can read the reports on screen but not download them."
        )


def test_donations_page_lists_money_per_payment_and_hides_abandoned_checkouts(
    client, issue, built_ledger, app
):
    from service.donations.models import Donation

    with extensions.database(app).sessionmaker.begin() as db:
        db.get(Donation, built_ledger.pending).status = "expired"
    sign_in(client, issue("accountant"))
    page = client.get("/finance/donations").get_data(as_text=True)
    assert "Amount per payment" in page and "Payments collected" in page and "Total collected" in page
    row = re.search(
        rf"<tr>\s*<td>[^<]*</td>\s*<td><a [^>]*>{built_ledger.monthly}</a>.*?</tr>", page, re.S
    ).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:3] == ["£15.00", "2", "£30.00"]
    assert built_ledger.pending not in page
    assert built_ledger.pending in client.get("/finance/donations?include_abandoned=true").get_data(
        as_text=True
    )
    assert built_ledger.pending in client.get("/finance/donations?status=expired").get_data(as_text=True)
    # The filters are dropdowns of what there is.
    assert '<select id="status" name="status"' in page and '<option value="dispute_lost">' in page
    assert '<select id="appeal" name="appeal"' in page and '<option value="red-cross-ukraine">' in page
    assert '<option value="eur">' in page and '<option value="monthly">' in page


def test_finance_page_errors_keep_the_finance_layout_and_name_the_bad_value(client, issue):
    sign_in(client, issue("accountant", appeals=["red-cross-ukraine"]))
    refused = client.get("/finance/payouts")
    assert refused.status_code == 403
    body = refused.get_data(as_text=True)
    assert 'aria-label="Finance"' in body and "Payouts mix appeals" in body and "Sign out" in body
    sign_in(client, issue("admin"))
    unknown = client.get("/finance/donations?appeal=no-such-appeal")
    assert unknown.status_code == 422
    assert "No appeal is called &#39;no-such-appeal&#39;." in unknown.get_data(as_text=True)
    assert 'aria-label="Finance"' in unknown.get_data(as_text=True)
    missing = client.get("/finance/donations/don_000000000000000000000000")
    assert missing.status_code == 404 and 'aria-label="Finance"' in missing.get_data(as_text=True)
    nowhere = client.get("/finance/no-such-page")
    assert nowhere.status_code == 404 and 'aria-label="Finance"' in nowhere.get_data(as_text=True)
    assert "There is nothing at this address." in nowhere.get_data(as_text=True)


def test_money_in_finance_tables_keeps_its_decimals():
    from service.pages.finance import money

    assert (money(2000, "gbp"), money(35, "gbp"), money(-2000, "eur"), money(500, "jpy")) == (
        "£20.00", "£0.35", "−€20.00", "JP¥500")  # fmt: skip


def test_totals_and_payouts_csv_name_their_columns_and_give_money_twice(finance_get, built_ledger):
    by_appeal = read(finance_get("/reconciliation?format=csv&group_by=appeal"))
    assert {(r["appeal"], r["currency"]) for r in by_appeal} == {
        ("red-cross-ukraine", "gbp"),
        ("red-cross-ukraine", "eur"),
    }
    gbp = next(r for r in by_appeal if r["currency"] == "gbp")
    assert Decimal(gbp["gross"]) * 100 == Decimal(gbp["gross_minor"]) and "." in gbp["gross"]
    assert "key" not in gbp
    by_currency = read(finance_get("/reconciliation?format=csv&group_by=currency"))
    assert all("currency" in r and "key" not in r and "appeal" not in r for r in by_currency)
    payouts = read(finance_get("/payouts?format=csv"))
    assert payouts and all(r["payout"].startswith("po_") for r in payouts)
    for row in payouts:
        assert Decimal(row["amount"]) * 100 == Decimal(row["amount_minor"]) and row["currency"]
        assert Decimal(row["ledger_payments_net"]) * 100 == Decimal(row["ledger_payments_net_minor"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"])
