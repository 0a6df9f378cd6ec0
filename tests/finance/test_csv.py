"""CSV exports: streamed row by row, spreadsheet-safe, ISO dates, amounts in major and minor units."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from service.finance.csv_export import cell, neutralise, stream_csv
from service.finance.models import AuditEntry


@pytest.mark.parametrize(
    "text", ["=1+2", "+44 20", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_formula_leading_text_gets_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["guardian", "", "a=b", "1,000", "'quoted"])
def test_plain_text_is_left_alone(text):
    assert neutralise(text) == text


def test_cells_are_iso_dates_and_exact_numbers():
    assert cell(datetime(2026, 11, 25, 9, 30, tzinfo=UTC)) == "2026-11-25T09:30:00Z"
    assert cell(Decimal("25.00")) == Decimal("25.00")
    assert cell(-400) == -400  # numbers the service writes are not text and stay numbers
    assert cell(None) == ""


def test_stream_yields_one_line_at_a_time_from_a_generator():
    pulled = []

    def rows():
        for i in range(3):
            pulled.append(i)
            yield [i, "=x"]

    lines = stream_csv(["n", "text"], rows())
    assert next(lines) == "n,text\r\n" and pulled == []
    assert next(lines) == "0,'=x\r\n" and pulled == [0]


def read(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_payments_export_has_every_column_and_neutralised_cells(finance_get, built_ledger, db_session):
    response = finance_get("/payments")
    assert response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = read(response)
    assert len(rows) == 5
    refunded = next(r for r in rows if r["donation_id"] == built_ledger.refunded)
    assert (refunded["amount"], refunded["amount_minor"]) == ("10.00", "1000")
    assert (refunded["refunded"], refunded["refunded_minor"]) == ("4.00", "400")
    assert Decimal(refunded["net"]) == Decimal(refunded["net_minor"]) / 100
    assert refunded["utm_source"] == '\'=HYPERLINK("http://evil")'
    assert refunded["paid_at"].endswith("Z") and "T" in refunded["paid_at"]
    assert refunded["donor_email"] == "donor@example.org"
    assert all(r["payout"].startswith("po_") for r in rows if r["currency"] == "gbp")
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "payments.csv")).one()
    assert entry.row_count == 5


def test_csv_by_accept_header_or_format_parameter(finance_get, built_ledger):
    by_header = read(finance_get("/donations", headers={"Accept": "text/csv"}))
    by_param = read(finance_get("/donations?format=csv"))
    assert len(by_header) == len(by_param) == 5
    assert finance_get("/donations").mimetype == "application/json"
    events = read(finance_get("/webhook-events?format=csv&type=charge.refunded"))
    assert [e["type"] for e in events] == ["charge.refunded"]
    totals = read(finance_get("/reconciliation?format=csv&group_by=currency"))
    assert {t["currency"] for t in totals} == {"gbp", "eur"}
