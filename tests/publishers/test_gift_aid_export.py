"""The Gift Aid schedule: eligible gifts in the columns of HMRC's Charities Online spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service import extensions
from service.finance.reports.gift_aid_schedule import SCHEDULE_COLUMNS, schedule_csv, schedule_rows
from service.gift_aid import declaration_text, normalise_postcode
from tests.support.gifts import GIFT_AID


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


def test_schedule_lists_each_gift_aided_payment_in_hmrc_columns(
    webhooks: str, give: Any, db_session: Any, sandbox: Any
) -> None:
    aided = give(gift_aid={**GIFT_AID, "title": "Dr"}, cover_fees=True)
    give()  # no declaration: not in the claim
    refunded = give(gift_aid=GIFT_AID, amount=5000)
    sandbox.control.refund(refunded.stripe_payment_intent_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)

    [row] = list(schedule_rows(db_session, *window()))
    assert row.donation_id == aided.id
    paid_on = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")).strftime("%d/%m/%y")
    total = aided.amount + aided.fee_cover_amount
    assert row.cells() == [
        "Dr", "Olena", "Smith Jones", "12", "SW1A 1AA", "", "", paid_on, f"{total / 100:.2f}",
    ]  # fmt: skip

    text = schedule_csv(schedule_rows(db_session, *window()))
    header, first = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == SCHEDULE_COLUMNS
    assert header == [
        "Title", "First name", "Last name", "House name or number", "Postcode",
        "Aggregated donations", "Sponsored event", "Donation date", "Amount",
    ]  # fmt: skip
    assert first[8] == f"{total / 100:.2f}" and "£" not in first[8]


def test_schedule_neutralises_spreadsheet_formulas(webhooks: str, give: Any, db_session: Any) -> None:
    give(gift_aid={**GIFT_AID, "first_name": "=HYPERLINK(1)"})
    text = schedule_csv(schedule_rows(db_session, *window()))
    assert "'=HYPERLINK(1)" in text


def test_payments_outside_the_period_are_left_out(webhooks: str, give: Any, db_session: Any) -> None:
    give(gift_aid=GIFT_AID)
    later = datetime.now(UTC) + timedelta(days=2)
    assert list(schedule_rows(db_session, later, later + timedelta(days=1))) == []


def test_declaration_wording_names_the_charity_and_the_taxpayer_statement() -> None:
    text = declaration_text("British Red Cross")
    assert text.startswith(
        "I want to Gift Aid my donation and any donations I make in the future to British Red Cross."
    )
    assert "I am a UK taxpayer" in text and "responsibility to pay any difference" in text
    ukrainian = declaration_text("British Red Cross", locale="uk")
    assert "British Red Cross" in ukrainian and "платником податків" in ukrainian


def test_postcodes_are_normalised_as_hmrc_asks() -> None:
    assert normalise_postcode("sw1a1aa") == "SW1A 1AA"
    assert normalise_postcode(" s19 2bd ") == "S19 2BD"
    assert normalise_postcode("75001") is None


def test_finance_api_exports_the_schedule_as_csv_for_accountants(
    webhooks: str, give: Any, client: Any, app: Any
) -> None:
    from service.finance import tokens

    give(gift_aid=GIFT_AID)
    with app.app_context(), extensions.database(app).begin() as db:
        accountant = tokens.create_token(db, name="t", role="accountant", days=1, appeals=None).secret
        viewer = tokens.create_token(db, name="v", role="viewer", days=1, appeals=None).secret
    response = client.get("/api/v1/finance/gift-aid", headers={"Authorization": f"Bearer {accountant}"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(header) == SCHEDULE_COLUMNS
    assert row[:5] == ["", "Olena", "Smith Jones", "12", "SW1A 1AA"] and row[8] == "25.00"
    refused = client.get("/api/v1/finance/gift-aid", headers={"Authorization": f"Bearer {viewer}"})
    assert refused.status_code == 403
