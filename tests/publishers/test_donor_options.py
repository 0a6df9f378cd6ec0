"""Donor options end to end: what the donor chose reaches Stripe, the ledger and the donation row."""

from __future__ import annotations

from typing import Any

from service import extensions
from service.fees import fee_cover_for
from tests.support.gifts import GIFT, GIFT_AID


def session_params(sandbox: Any) -> dict[str, Any]:
    return sandbox.control.requests(path="/v1/checkout/sessions", method="POST")[-1]["params"]


def test_fee_cover_is_added_to_what_stripe_charges_and_recorded_apart(
    webhooks: str, give: Any, sandbox: Any, ledger: Any
) -> None:
    donation = give(cover_fees=True)
    cover = fee_cover_for(2500, "gbp")
    assert (donation.amount, donation.fee_cover_amount) == (2500, cover)
    params = session_params(sandbox)
    assert params["line_items"][0]["price_data"]["unit_amount"] == str(2500 + cover)
    assert (
        "£0.59 to cover processing fees"
        in params["line_items"][0]["price_data"]["product_data"]["description"]
    )
    assert params["metadata"]["fee_cover_amount"] == str(cover)
    assert params["metadata"]["gift_amount"] == "2500"
    # The ledger recorded the whole charge without flagging it as a mismatch, and the real fee
    # left the charity at least the gift.
    assert donation.status == "paid" and not donation.needs_attention
    (payment,) = ledger.payments(donation.id)
    assert payment.amount == 2500 + cover
    assert payment.net is not None and payment.net >= 2500


def test_without_fee_cover_stripe_charges_the_gift(
    webhooks: str, give: Any, sandbox: Any, ledger: Any
) -> None:
    donation = give()
    assert donation.fee_cover_amount == 0
    assert session_params(sandbox)["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert "fee_cover_amount" not in session_params(sandbox)["metadata"]
    assert ledger.payments(donation.id)[0].amount == 2500


def test_monthly_fee_cover_is_part_of_the_monthly_price(webhooks: str, give: Any, sandbox: Any) -> None:
    donation = give(frequency="monthly", cover_fees=True)
    price = session_params(sandbox)["line_items"][0]["price_data"]
    assert price["unit_amount"] == str(2500 + fee_cover_for(2500, "gbp"))
    assert price["recurring"]["interval"] == "month"
    assert donation.status == "paid" and not donation.needs_attention


def test_api_reports_the_total_the_donor_pays(client: Any) -> None:
    body = client.post("/api/v1/donations", json={**GIFT, "cover_fees": True}).get_json()
    assert body["fee_cover_amount"] == fee_cover_for(2500, "gbp")
    assert body["amount_total"] == 2500 + body["fee_cover_amount"]


def test_anonymous_choice_is_recorded_and_sent_as_metadata(give: Any, sandbox: Any) -> None:
    donation = give(pay=False, anonymous=True)
    assert donation.anonymous is True
    assert session_params(sandbox)["metadata"]["anonymous"] == "true"


def test_gift_aid_declaration_is_stored_with_wording_version_and_date(
    app: Any, give: Any, sandbox: Any
) -> None:
    donation = give(pay=False, gift_aid=GIFT_AID)
    assert donation.gift_aid is True
    assert (donation.gift_aid_first_name, donation.gift_aid_last_name) == ("Olena", "Smith-Jones")
    assert (donation.gift_aid_house, donation.gift_aid_postcode) == ("12", "SW1A 1AA")
    assert donation.gift_aid_wording_version == "hmrc-model-2026-1"
    assert donation.gift_aid_declared_at is not None
    assert session_params(sandbox)["metadata"]["gift_aid"] == "true"


def test_gift_aid_is_refused_when_the_appeal_does_not_claim_it(app: Any, client: Any) -> None:
    app_appeal_gift_aid(app, False)
    response = client.post("/api/v1/donations", json={**GIFT, "gift_aid": GIFT_AID})
    assert response.status_code == 422
    assert "gift_aid" in response.get_json()["error"]["fields"]


def test_gift_aid_is_refused_outside_pounds(app: Any, client: Any) -> None:
    response = client.post("/api/v1/donations", json={**GIFT, "currency": "eur", "gift_aid": GIFT_AID})
    assert response.status_code == 422
    assert "gift_aid" in response.get_json()["error"]["fields"]


def test_gift_aid_needs_the_declaration_and_a_uk_postcode(app: Any, client: Any) -> None:
    bad = {**GIFT_AID, "postcode": "75001", "declaration": False}
    response = client.post("/api/v1/donations", json={**GIFT, "gift_aid": bad})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]["gift_aid"]
    assert set(fields) == {"postcode", "declaration"}


def app_appeal_gift_aid(app: Any, enabled: bool) -> None:
    from sqlalchemy import update

    from service.models import Appeal

    with app.app_context(), extensions.database(app).begin() as db:
        db.execute(update(Appeal).values(gift_aid_enabled=enabled))


def test_monthly_renewals_charge_the_cover_every_month_and_count_the_gift_only(
    webhooks: str, give: Any, sandbox: Any, ledger: Any, client: Any, fresh_figures: Any
) -> None:
    donation = give(frequency="monthly", cover_fees=True)
    sandbox.control.advance_subscription(donation.stripe_subscription_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    cover = fee_cover_for(2500, "gbp")
    assert [p.amount for p in ledger.payments(donation.id)] == [2500 + cover, 2500 + cover]
    assert not ledger.donation(donation.id).needs_attention
    fresh_figures()
    progress = client.get("/api/v1/appeals/red-cross-ukraine/progress").get_json()
    assert progress["raised"] == [{"currency": "gbp", "amount": 5000, "gifts": 1}]
