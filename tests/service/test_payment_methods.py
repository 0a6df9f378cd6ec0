"""Bank debits through Checkout: the appeal's option, the schemes' rules, and what Stripe is asked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.appeals import AppealDefinitionSchema
from service.constants.currencies import BANK_DEBIT_CURRENCIES
from service.descriptors import suffix_problems
from service.payment_methods import (
    SCHEMES,
    add_business_days,
    debit_refusal,
    excluded_payment_method_types,
    expected_debit_date,
)

from .helpers import VALID, load_donation, session_creates

BASE = {"slug": "floods", "title": "Floods", "charity_name": "Relief"}


def appeal(bank_debits: bool = True) -> Any:
    return SimpleNamespace(bank_debits=bank_debits)


@pytest.mark.parametrize(
    ("bank_debits", "currency", "frequency", "amount", "excluded"),
    [
        (True, "gbp", "monthly", 200, []),  # Bacs, monthly, at its minimum
        (True, "gbp", "monthly", 199, ["bacs_debit"]),  # under Bacs's £2
        (True, "gbp", "one_off", 5000, ["bacs_debit"]),  # Bacs is for monthly gifts
        (True, "eur", "one_off", 100, []),  # SEPA takes one-off gifts
        (True, "eur", "monthly", 99, ["sepa_debit"]),
        (False, "eur", "one_off", 5000, ["sepa_debit"]),  # the appeal did not enable debits
        (False, "gbp", "monthly", 5000, ["bacs_debit"]),
        (True, "usd", "one_off", 5000, []),  # no scheme of ours: the Dashboard decides
    ],
)
def test_what_checkout_must_leave_out(
    bank_debits: bool, currency: str, frequency: str, amount: int, excluded: list[str]
) -> None:
    assert excluded_payment_method_types(appeal(bank_debits), currency, frequency, amount) == excluded


def test_refusals_say_why_in_plain_words() -> None:
    assert (
        debit_refusal(appeal(), "gbp", "monthly", 150) == "The smallest gift by Bacs Direct Debit is £2.00."
    )
    assert debit_refusal(appeal(), "eur", "one_off", 50) == "The smallest gift by SEPA Direct Debit is €1.00."
    assert "monthly gifts only" in (debit_refusal(appeal(), "gbp", "one_off", 5000) or "")
    assert "does not take bank debits" in (debit_refusal(appeal(False), "eur", "one_off", 5000) or "")
    assert "pounds (Bacs) or euros (SEPA) only" in (debit_refusal(appeal(), "usd", "one_off", 5000) or "")
    assert debit_refusal(appeal(), "gbp", "monthly", 200) is None


def test_expected_debit_date_counts_business_days() -> None:
    friday = datetime(2026, 12, 4, 15, tzinfo=UTC)
    assert add_business_days(friday.date(), 1) == date(2026, 12, 7)  # the Monday
    assert expected_debit_date("bacs_debit", friday) == date(2026, 12, 15)  # 7 business days
    assert expected_debit_date("sepa_debit", friday) == date(2026, 12, 16)  # 8
    assert expected_debit_date("card", friday) is None


def test_the_appeal_schema_knows_the_same_debit_currencies_as_the_schemes() -> None:
    assert frozenset(SCHEMES) == BANK_DEBIT_CURRENCIES


def test_appeal_option_is_validated_at_load_naming_the_field() -> None:
    schema = AppealDefinitionSchema(suffix_problems=partial(suffix_problems, prefix=None))
    assert schema.load({**BASE, "currencies": ["eur"], "bank_debits": True})["bank_debits"]
    assert schema.load({**BASE, "currencies": ["eur"]})["bank_debits"] is False
    with pytest.raises(ValidationError) as caught:
        schema.load({**BASE, "currencies": ["usd", "jpy"], "bank_debits": True})
    assert caught.value.messages == {
        "bank_debits": ["Bank debits need gbp (Bacs) or eur (SEPA) among the appeal's currencies."]
    }
    with pytest.raises(ValidationError) as caught:
        schema.load({**BASE, "currencies": ["gbp"], "bank_debits": "sometimes"})
    assert list(caught.value.messages) == ["bank_debits"]


def test_load_command_reports_the_field(runner: Any, tmp_path: Any) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        "slug: floods\ntitle: Floods\ncharity_name: Relief\ncurrencies: [usd]\nbank_debits: true\n"
    )
    result = runner.invoke(args=["appeals", "load", str(path)])
    assert result.exit_code != 0
    assert "[0] floods.bank_debits" in result.output


def test_checkout_never_lists_payment_method_types(client: Any, app: Any, sandbox: Any) -> None:
    """Cards, wallets and Pay by Bank follow the Dashboard; only an ineligible debit is excluded."""
    one_off_gbp = client.post("/api/v1/donations", json=VALID)
    monthly_gbp = client.post("/api/v1/donations", json={**VALID, "frequency": "monthly"})
    one_off_eur = client.post("/api/v1/donations", json={**VALID, "currency": "eur"})
    assert [r.status_code for r in (one_off_gbp, monthly_gbp, one_off_eur)] == [201, 201, 201]
    calls = [c["params"] for c in session_creates(sandbox)]
    assert all("payment_method_types" not in p and "allowed_payment_method_types" not in p for p in calls)
    assert [p.get("excluded_payment_method_types") for p in calls] == [["bacs_debit"], None, None]
    # The sandbox, like Checkout, offers what is left of its "Dashboard" set.
    offered = []
    for response in (one_off_gbp, monthly_gbp, one_off_eur):
        session_id = load_donation(app, response.get_json()["id"]).stripe_checkout_session_id
        offered.append(sandbox.state.store.objects[session_id]["payment_method_types"])
    assert offered == [["card"], ["card", "bacs_debit"], ["card", "sepa_debit"]]


def test_thank_you_page_says_when_the_debit_will_be_taken(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", json={**VALID, "currency": "eur"})
    donation = load_donation(app, response.get_json()["id"])
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
    html = client.get(
        f"/donate/red-cross-ukraine/thanks?session_id={donation.stripe_checkout_session_id}"
    ).get_data(as_text=True)
    [charge] = [o for o in sandbox.state.store.objects.values() if o.get("object") == "charge"]
    # Stripe's own collection date, from the pending charge (after the advance notice).
    taken = date.fromisoformat(charge["payment_method_details"]["sepa_debit"]["expected_debit_date"])
    when = f"{taken:%A}, {taken.day} {taken:%B %Y}"  # en_GB's full date
    assert f"Your debit by SEPA Direct Debit from the account ending 3000 will be taken on {when}." in html
    assert "Your bank statement will show it." in html


def test_without_stripes_date_the_page_estimates_when_the_debit_is_confirmed() -> None:
    """An older API version's charge has no expected_debit_date: the scheme's days, said as "about"."""
    from service.pending_debits import pending_debit_from_charge

    created = int(datetime(2026, 12, 4, 15, tzinfo=UTC).timestamp())
    charge = {"status": "pending", "created": created,
              "payment_method_details": {"type": "bacs_debit", "bacs_debit": {"last4": "2345"}}}  # fmt: skip
    debit = pending_debit_from_charge(charge)
    assert debit is not None and debit.debit_on is None
    assert (debit.scheme_name, debit.last4, debit.expected_by) == (
        "Bacs Direct Debit",
        "2345",
        date(2026, 12, 15),
    )
    assert pending_debit_from_charge({**charge, "status": "succeeded"}) is None
    card = {**charge, "payment_method_details": {"type": "card", "card": {}}}
    assert pending_debit_from_charge(card) is None


def test_settled_debit_page_thanks_for_money_received(client: Any, app: Any, sandbox: Any) -> None:
    response = client.post("/api/v1/donations", json={**VALID, "currency": "eur"})
    donation = load_donation(app, response.get_json()["id"])
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
    # Once the bank confirms it, the page thanks the donor for money received, and no date remains.
    sandbox.control.settle_async_payment(donation.stripe_checkout_session_id, "succeeded")
    settled = client.get(
        f"/donate/red-cross-ukraine/thanks?session_id={donation.stripe_checkout_session_id}"
    ).get_data(as_text=True)
    assert "has been received" in settled and "will be taken" not in settled
