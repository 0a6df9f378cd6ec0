"""Statement descriptor suffixes by Stripe's rules, and the fee-cover estimate per currency:
each against what the sandbox (playing Stripe) does with the real StripeClient."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from service import extensions
from service.appeals import upsert_appeals, validate_definitions
from service.constants.currencies import STRIPE_MAXIMUM_AMOUNT
from service.descriptors import suffix_problems
from service.errors import ValidationFailed
from service.fees import fee_cover_for, fee_rate
from tests.service.helpers import load_donation

APPEAL = {
    "slug": "forints", "title": "Forints", "charity_name": "C", "currencies": ["huf", "eur", "gbp"],
    "minimum_amounts": {"huf": 17500, "eur": 100, "gbp": 100},
}  # fmt: skip


def _session_params(suffix: str) -> dict[str, Any]:
    return {
        "mode": "payment",
        "success_url": "https://example.org/ok",
        "line_items": [{"price_data": {"currency": "gbp", "unit_amount": 500,
                                       "product_data": {"name": "Gift"}}, "quantity": 1}],
        "payment_intent_data": {"statement_descriptor_suffix": suffix},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("suffix", "valid"),
    [("UKRAINE", True), ("GAZA 2026", True), ("2026", False), ("12 34", False),
     ("FLOOD*RELIEF", False), ("FLOODS APPEAL", False), ("SÜD", False)],
)  # fmt: skip
def test_suffix_rules_agree_with_stripe(app: Any, suffix: str, valid: bool) -> None:
    """The service's check beside the account's prefix, and Stripe's answer for the same suffix."""
    client = extensions.stripe_gateway(app).client
    problems = suffix_problems(suffix, "DONROUTER")  # the sandbox account's prefix
    if valid:
        assert problems == []
        client.v1.checkout.sessions.create(params=_session_params(suffix))
        return
    assert problems
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=_session_params(suffix))
    assert refused.value.param == "payment_intent_data[statement_descriptor_suffix]"


def test_an_appeal_with_a_suffix_stripe_would_refuse_is_not_loaded(app: Any) -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_definitions([{**APPEAL, "statement_descriptor_suffix": "2026"}])
    assert "at least one letter" in str(failed.value.fields)
    # 14 characters fit beside a 6-character prefix, not beside an unknown (up to 10) one.
    long = {**APPEAL, "statement_descriptor_suffix": "UKRAINE APPEAL"}
    assert validate_definitions([long], descriptor_prefix="REDX")
    with pytest.raises(ValidationFailed):
        validate_definitions([long])


def test_fixed_fee_is_at_the_currency_scale() -> None:
    assert fee_rate("gbp").fixed == 20 and fee_rate("eur").fixed == 25
    assert fee_rate("huf").fixed == 8500  # 85 Ft, not 0.30 Ft
    assert fee_rate("czk").fixed == 650 and fee_rate("sek").fixed == 180
    assert fee_rate("jpy").fixed == 0
    # No published figure: about 30 US cents at the currency's own scale.
    assert fee_rate("thb").fixed == 600 and fee_rate("nok").fixed == 180
    assert fee_rate("eur", "gbp").percent == fee_rate("eur").percent + 2


def _pay_with_cover(app: Any, client: Any, sandbox: Any, amount: int, currency: str) -> tuple[Any, Any]:
    with extensions.database(app).sessionmaker.begin() as db:
        upsert_appeals(db, validate_definitions([APPEAL]))
    body = {"appeal": "forints", "amount": amount, "currency": currency, "cover_fees": True}
    response = client.post("/api/v1/donations", json=body)
    assert response.status_code == 201, response.get_json()
    donation = load_donation(app, response.get_json()["id"])
    sandbox.control.complete_session(donation.stripe_checkout_session_id)
    stripe_client = extensions.stripe_gateway(app).client
    session = stripe_client.v1.checkout.sessions.retrieve(
        donation.stripe_checkout_session_id,
        params={"expand": ["payment_intent.latest_charge.balance_transaction"]},
    )
    return donation, session.payment_intent.latest_charge.balance_transaction


def test_covering_fees_on_a_forint_gift_leaves_the_whole_gift(app: Any, client: Any, sandbox: Any) -> None:
    # 1,000 Ft; Stripe's fee is 1.5% + 85 Ft (the sandbox charges what Stripe publishes).
    donation, txn = _pay_with_cover(app, client, sandbox, 100_000, "huf")
    assert donation.fee_cover_amount == fee_cover_for(100_000, "huf") > 8500
    assert (txn.currency, txn.amount) == ("huf", 100_000 + donation.fee_cover_amount)
    assert txn.net >= 100_000


def test_covering_fees_on_a_converted_gift_includes_the_conversion_fee(
    app: Any, client: Any, sandbox: Any
) -> None:
    # The account settles in pounds: a EUR 10.00 gift is converted, for 2% more in fees.
    sandbox.control.configure(settlement_currency="gbp", exchange_rates={"eur": 0.85})
    settings = extensions.set_settings(app, _with_settlement(extensions.settings(app), "gbp"))
    assert settings.stripe_settlement_currency == "gbp"
    donation, txn = _pay_with_cover(app, client, sandbox, 1000, "eur")
    assert donation.fee_cover_amount == fee_cover_for(1000, "eur", "gbp") > fee_cover_for(1000, "eur")
    assert (txn.currency, txn.exchange_rate) == ("gbp", 0.85)
    # The charity receives at least the gift's worth in pounds at the day's rate.
    assert txn.net >= round(1000 * 0.85)


def _with_settlement(settings: Any, currency: str) -> Any:
    import dataclasses

    return dataclasses.replace(settings, stripe_settlement_currency=currency)


def test_a_gift_too_large_to_cover_counts_the_conversion_fee(app: Any, client: Any) -> None:
    # The largest euro gift whose cover fits under Stripe's maximum charge at the card fee alone;
    # converted to the account's pounds it pays 2% more, and gift plus cover no longer fit.
    gift = 97_499_000
    assert (
        gift + fee_cover_for(gift, "eur") <= STRIPE_MAXIMUM_AMOUNT < gift + fee_cover_for(gift, "eur", "gbp")
    )
    big = {**APPEAL, "currencies": ["eur"], "default_currency": "eur",
           "minimum_amounts": {"eur": 100}, "maximum_amounts": {"eur": STRIPE_MAXIMUM_AMOUNT},
           "suggested_amounts": {"eur": [1000]}}  # fmt: skip
    with extensions.database(app).sessionmaker.begin() as db:
        upsert_appeals(db, validate_definitions([big]))
    extensions.set_settings(app, _with_settlement(extensions.settings(app), "gbp"))
    body = {"appeal": "forints", "amount": gift, "currency": "eur", "cover_fees": True}
    response = client.post("/api/v1/donations", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["fields"] == {
        "cover_fees": ["This gift is too large to add the fees to."]
    }
