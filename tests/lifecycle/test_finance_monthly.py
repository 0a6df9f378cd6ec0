"""Finance sees monthly gifts that stopped (who, when, why) and those at risk: API, CSV and page."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import requests

from service import extensions
from service.finance import tokens
from service.manage import manage_token
from tests.support.ledger import delivered, donation_row


def _token(app: Any, role: str = "accountant") -> str:
    with app.app_context(), extensions.database(app).begin() as db:
        return tokens.create_token(db, name=f"test {role}", role=role, days=30).secret


def _get(app: Any, query: str = "", role: str = "accountant") -> Any:
    return app.test_client().get(
        f"/api/v1/finance/monthly-gifts{query}", headers={"Authorization": f"Bearer {_token(app, role)}"}
    )


def _stop_in_portal(app: Any, donation: Any, sandbox: Any) -> None:
    token = manage_token(extensions.settings(app), donation)
    portal = app.test_client().post(f"/manage/{token}/stop").headers["Location"]
    requests.post(portal, data={"action": "cancel", "feedback": "too_expensive", "comment": "moving abroad"},
                  allow_redirects=False, timeout=10)  # fmt: skip
    delivered(sandbox)


def test_a_failed_payment_puts_the_gift_at_risk_then_the_donor_stops_it(monthly, mail_app, sandbox) -> None:
    donation, _ = monthly
    assert _get(mail_app).get_json()["at_risk"] == []
    sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    body = _get(mail_app).get_json()
    (risky,) = body["at_risk"]
    assert (risky["donation_id"], risky["subscription_status"], risky["amount"], risky["currency"]) == (
        donation.id, "past_due", 1000, "gbp",
    )  # fmt: skip
    assert risky["failed_attempts"] == 1 and risky["payments"] == 1 and risky["last_failed_at"]
    assert body["monthly_amount_at_risk"] == [{"currency": "gbp", "amount": 1000}]
    assert body["cancellations"] == []

    _stop_in_portal(mail_app, donation, sandbox)
    body = _get(mail_app).get_json()
    assert body["at_risk"] == []
    (stopped,) = body["cancellations"]
    assert (stopped["cancelled_by"], stopped["feedback"], stopped["comment"]) == (
        "donor",
        "too_expensive",
        "moving abroad",
    )
    assert stopped["payments"] == 1 and stopped["cancelled_at"] and body["cancelled_by"] == {"donor": 1}
    detail = (
        mail_app.test_client()
        .get(
            f"/api/v1/finance/donations/{donation.id}",
            headers={"Authorization": f"Bearer {_token(mail_app)}"},
        )
        .get_json()
    )
    assert (
        detail["monthly"]["cancelled_by"] == "donor"
        and detail["monthly"]["subscription_status"] == "canceled"
    )
    # The donor's own words only to tokens that see personal data.
    assert _get(mail_app, role="viewer").get_json()["cancellations"][0]["comment"] is None
    # A range that ends before the cancellation leaves it out.
    assert _get(mail_app, "?from=2020-01-01&to=2020-01-31").get_json()["cancellations"] == []


def test_staff_and_failed_payments_are_told_apart_from_donors(monthly, mail_app, sandbox) -> None:
    donation, _ = monthly
    extensions.stripe_gateway(mail_app).client.v1.subscriptions.cancel(donation.stripe_subscription_id)
    delivered(sandbox)
    (stopped,) = _get(mail_app).get_json()["cancellations"]
    assert (stopped["cancelled_by"], stopped["feedback"]) == ("staff", None)
    assert donation_row(mail_app, donation.id).cancelled_by == "staff"


def test_cancellations_and_at_risk_as_csv_and_on_the_finance_page(monthly, mail_app, sandbox) -> None:
    donation, _ = monthly
    invoice = sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    at_risk = _get(mail_app, "?format=csv&view=at_risk")
    assert at_risk.status_code == 200 and at_risk.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(at_risk.get_data(as_text=True))))
    assert [(r["donation_id"], r["subscription_status"], r["amount"], r["amount_minor"], r["failed_attempts"]) for r in rows] == [
        (donation.id, "past_due", "10.00", "1000", "1"),
    ]  # fmt: skip
    for _ in range(3):  # Stripe's last retries fail: the gift ends for non-payment
        sandbox.control.retry_invoice(invoice["id"], "failed")
        delivered(sandbox)
    stopped = _get(mail_app, "?format=csv")
    rows = list(csv.DictReader(io.StringIO(stopped.get_data(as_text=True))))
    assert [(r["donation_id"], r["cancelled_by"], r["currency"]) for r in rows] == [
        (donation.id, "payment_failed", "gbp")
    ]
    assert _get(mail_app, "?format=csv", role="viewer").status_code == 403  # exports are the accountant's

    client = mail_app.test_client()
    sign_in = client.get("/finance/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', sign_in)
    assert csrf
    client.post("/finance/sign-in", data={"token": _token(mail_app), "csrf_token": csrf.group(1), "next": ""})
    page = client.get("/finance/monthly-gifts")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'aria-current="page">Monthly gifts' in html
    assert "No monthly gift is at risk." in html and donation.id in html and "failed payments" in html
    assert "£10.00" in html
    bad = client.get("/finance/monthly-gifts?from=not-a-date")
    assert bad.status_code == 200 and "Check the filters" in bad.get_data(as_text=True)


def test_the_api_refuses_bad_filters(mail_app) -> None:
    assert _get(mail_app, "?view=everything").status_code == 422
    assert _get(mail_app, "?from=2026-02-01&to=2026-01-01").status_code == 422
    assert _get(mail_app, "?appeal=no-such-appeal").status_code == 422
    assert mail_app.test_client().get("/api/v1/finance/monthly-gifts").status_code == 401
