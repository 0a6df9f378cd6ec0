"""Match funding in the ledger: paid gifts matched by the funder's rules, refunds un-match them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from service.donations.models import Donation
from service.matching.models import MatchAllocation, MatchCap
from service.models import WebhookEvent
from tests.ledger import payloads
from tests.support.appeal_definitions import GIFT_AID, RULE, appeal


def _allocation(db_session: Any, donation_id: str) -> MatchAllocation:
    db_session.expire_all()
    return db_session.scalars(select(MatchAllocation).where(MatchAllocation.donation_id == donation_id)).one()


def _used(db_session: Any) -> int:
    db_session.expire_all()
    return db_session.scalars(select(MatchCap)).one().used


def test_paid_gifts_are_matched_by_the_rules_up_to_the_cap_and_a_refund_gives_the_match_back(
    webhooks: str, give: Any, sandbox: Any, matched_appeal: str, db_session: Any
) -> None:
    first = give(appeal=matched_appeal, amount=2500, gift_aid=GIFT_AID, cover_fees=True)
    row = _allocation(db_session, first.id)
    assert (row.matched, row.status, row.gift_amount) == (2500, "matched", 2500)  # fee cover not matched
    assert (row.residence_evidence, row.postcode_district, row.payment_kind) == (
        "gift_aid_declaration", "SW1A", "one_off",
    )  # fmt: skip

    no_evidence = give(appeal=matched_appeal, amount=2000)
    assert (_allocation(db_session, no_evidence.id).matched, _allocation(db_session, no_evidence.id).reason) == (
        0, "no_uk_residence_evidence",
    )  # fmt: skip
    euros = give(appeal=matched_appeal, amount=2000, currency="eur")
    assert _allocation(db_session, euros.id).reason == "currency_not_matched"

    second = give(appeal=matched_appeal, amount=4000, gift_aid=GIFT_AID)
    row = _allocation(db_session, second.id)
    assert (row.matched, row.status, row.reason) == (2500, "partly_matched", "cap_reached")
    assert _used(db_session) == 5000

    sandbox.control.refund(first.stripe_payment_intent_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    row = _allocation(db_session, first.id)
    assert (row.matched, row.status, row.reason) == (0, "not_matched", "refunded")
    assert _used(db_session) == 2500


def test_the_same_facts_delivered_again_in_new_events_match_a_gift_once(
    webhooks: str, give: Any, client: Any, matched_appeal: str, db_session: Any
) -> None:
    donation = give(appeal=matched_appeal, amount=2500, gift_aid=GIFT_AID)
    stored = db_session.scalars(select(WebhookEvent).where(WebhookEvent.donation_id == donation.id)).all()
    assert stored
    for event in stored:
        # New event ids, so the ledger applies them again rather than answering "duplicate".
        again = {**json.loads(event.payload), "id": "evt_again_" + event.stripe_event_id}
        assert payloads.post(client, again).status_code == 200
    assert _allocation(db_session, donation.id).matched == 2500
    assert _used(db_session) == 2500


def test_gifts_outside_the_window_are_recorded_as_not_matched(
    webhooks: str, give: Any, load_appeals: Any, db_session: Any
) -> None:
    load_appeals(appeal("later", match_funding=[{**RULE, "starts_at": "2098-01-01T00:00:00Z"}]))
    donation = give(appeal="later", amount=2500)
    row = _allocation(db_session, donation.id)
    assert (row.matched, row.reason) == (0, "outside_window")


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        ({**RULE, "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z"},
         "[0] a.match_funding.0.ends_at", "Must be after starts_at"),
        ({**RULE, "ratio": "one to one"}, "[0] a.match_funding.0.ratio", "funder:donor"),
        ({**RULE, "caps": {"usd": 100}}, "[0] a.match_funding.0.caps", "usd is not one of the appeal's currencies"),
        ({**RULE, "eligibility": {"payments": ["every_monthly"]}}, "[0] a.match_funding.0.eligibility.payments",
         "Must be one of"),
    ],
)  # fmt: skip
def test_loading_refuses_bad_match_rules_naming_the_field(
    runner: Any, tmp_path: Path, rule: dict[str, Any], field: str, words: str
) -> None:
    path = tmp_path / "appeals.yaml"
    path.write_text(yaml.safe_dump({"appeals": [appeal("a", match_funding=[rule])]}))
    result = runner.invoke(args=["appeals", "load", str(path)])
    assert result.exit_code == 1
    assert field in result.output and words in result.output, result.output


def test_only_the_first_payment_of_a_monthly_gift_is_matched(
    webhooks: str, give: Any, sandbox: Any, matched_appeal: str, db_session: Any
) -> None:
    donation = give(appeal=matched_appeal, amount=1000, frequency="monthly", gift_aid=GIFT_AID)
    sandbox.control.advance_subscription(donation.stripe_subscription_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    db_session.expire_all()
    rows = db_session.scalars(
        select(MatchAllocation)
        .where(MatchAllocation.donation_id == donation.id)
        .order_by(MatchAllocation.paid_at)
    ).all()
    assert [(r.payment_kind, r.matched, r.reason) for r in rows] == [
        ("first_monthly", 1000, None), ("monthly", 0, "payment_not_matched"),
    ]  # fmt: skip


def test_a_uk_postcode_alone_is_evidence_and_the_ledger_keeps_only_its_district(
    webhooks: str, give: Any, client: Any, matched_appeal: str, db_session: Any
) -> None:
    donation = give(appeal=matched_appeal, amount=2000, postcode="m1 1ae")
    assert donation.match_postcode == "M1 1AE"
    row = _allocation(db_session, donation.id)
    assert (row.matched, row.residence_evidence, row.postcode_district) == (2000, "postcode", "M1")
    refused = client.post("/api/v1/donations", json={"appeal": matched_appeal, "amount": 2000, "currency": "gbp",
                                                      "postcode": "12345"})  # fmt: skip
    assert refused.status_code == 422 and "postcode" in refused.get_json()["error"]["fields"]


def test_the_donate_page_asks_for_a_postcode_only_while_a_rule_takes_one(
    client: Any, load_appeals: Any, matched_appeal: str, db_session: Any
) -> None:
    html = client.get(f"/donate/{matched_appeal}").get_data(as_text=True)
    assert 'name="match_postcode"' in html
    token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    form = {"form_token": token, "currency": "gbp", "amount_choice": "1000", "frequency": "one_off"}
    bad = client.post(f"/donate/{matched_appeal}", data={**form, "match_postcode": "not a postcode"})
    assert bad.status_code == 422 and "Enter a UK postcode" in bad.get_data(as_text=True)
    good = client.post(f"/donate/{matched_appeal}", data={**form, "match_postcode": "sw1a1aa"})
    assert good.status_code == 303
    assert db_session.scalars(select(Donation)).one().match_postcode == "SW1A 1AA"

    load_appeals(
        appeal(
            "gift-aid-only",
            match_funding=[{**RULE, "eligibility": {"uk_residence": ["gift_aid_declaration"]}}],
        )
    )
    assert 'name="match_postcode"' not in client.get("/donate/gift-aid-only").get_data(as_text=True)
    assert 'name="match_postcode"' not in client.get("/donate/red-cross-ukraine").get_data(as_text=True)


def test_erasing_a_donor_removes_the_postcode_given_for_the_funder_and_keeps_the_district(
    webhooks: str, give: Any, runner: Any, matched_appeal: str, db_session: Any
) -> None:
    donation = give(appeal=matched_appeal, amount=2000, postcode="M1 1AE", email="donor@example.org")
    result = runner.invoke(args=["donors", "erase", "donor@example.org"])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert db_session.get(Donation, donation.id).match_postcode is None
    assert _allocation(db_session, donation.id).postcode_district == "M1"
