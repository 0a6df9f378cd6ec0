"""The funder's report: eligible gifts with evidence, totals per period, the cap used; no donor."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.support.gifts import GIFT_AID

REPORT = "/match-funding?appeal=matched"


def test_the_report_lists_eligible_gifts_with_evidence_totals_and_the_cap_used_and_no_donor(
    webhooks: str, give: Any, sandbox: Any, finance_get: Any, matched_appeal: str
) -> None:
    kept = give(appeal=matched_appeal, amount=2500, gift_aid=GIFT_AID, email="olena@example.org")
    give(appeal=matched_appeal, amount=1000, email="nobody@example.org")  # no evidence: not eligible
    refunded = give(appeal=matched_appeal, amount=1500, gift_aid=GIFT_AID)
    sandbox.control.refund(refunded.stripe_payment_intent_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)

    response = finance_get(REPORT)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["funders"][0]["caps"] == [{"currency": "gbp", "cap": 5000, "used": 2500, "remaining": 2500}]
    assert [(g["donation_id"], g["matched"], g["residence_evidence"], g["postcode_district"]) for g in body["gifts"]] == [
        (kept.id, 2500, "gift_aid_declaration", "SW1A"),
    ]  # fmt: skip
    assert body["gifts"][0]["gift_aid_declared_at"] and body["gifts"][0]["payment_kind"] == "one_off"
    month = body["gifts"][0]["paid_at"][:7]
    assert body["totals"] == [
        {"appeal": "matched", "funder": "UK Aid Match", "period": month, "currency": "gbp", "gifts": 1,
         "gift_amount": 2500, "matched": 2500},
    ]  # fmt: skip
    text = response.get_data(as_text=True)
    for personal in ("olena@example.org", "Olena", "Smith", "SW1A 1AA", "nobody@example.org"):
        assert personal not in text

    gifts_csv = list(csv.DictReader(io.StringIO(finance_get(REPORT + "&format=csv").get_data(as_text=True))))
    assert [(r["donation_id"], r["matched"], r["postcode_district"]) for r in gifts_csv] == [
        (kept.id, "2500", "SW1A")
    ]
    totals_csv = finance_get(REPORT + "&format=csv&view=totals&period=day").get_data(as_text=True)
    assert totals_csv.splitlines()[0] == "appeal,funder,period,currency,gifts,gift_amount,matched"
    assert f",{body['gifts'][0]['paid_at'][:10]},gbp,1,2500,2500" in totals_csv


def test_the_report_is_for_authenticated_accountants_within_their_appeals(
    client: Any, finance_get: Any, issue: Any, matched_appeal: str
) -> None:
    assert client.get("/api/v1/finance" + REPORT).status_code == 401
    assert finance_get(REPORT, role="viewer").status_code == 403
    other = issue("accountant", appeals=["red-cross-ukraine"])
    assert (
        client.get("/api/v1/finance" + REPORT, headers={"Authorization": f"Bearer {other}"}).status_code
        == 403
    )
    assert finance_get("/match-funding?period=year").status_code == 422
