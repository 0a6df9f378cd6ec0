"""An account that settles in pounds takes a euro gift: Stripe converts the charge, and converts
each refund and dispute withdrawal at its own day's rate. The ledger keeps both sides and no
report adds, subtracts or compares the two currencies."""

from __future__ import annotations

import pytest

from service import extensions
from tests.support.finance import stripe_balance
from tests.support.ledger import delivered


@pytest.fixture
def stripe_client(app):
    """The service's own StripeClient (stripe-python, pointed at the sandbox)."""
    return extensions.stripe_gateway(app).client


@pytest.fixture
def converted(live_server, sandbox, make_donation, ledger):
    """A EUR 30.00 gift and a GBP 10.00 gift on an account settling in GBP; the euro one is then
    refunded EUR 10.00 at another rate and disputed EUR 5.00 at a third, and everything paid out."""
    sandbox.control.configure(settlement_currency="gbp", exchange_rates={"eur": 0.85})
    euro = make_donation(amount=3000, currency="eur")
    pound = make_donation(amount=1000, currency="gbp")
    for donation in (euro, pound):
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    intent = ledger.donation(euro.id).stripe_payment_intent_id
    sandbox.control.configure(exchange_rates={"eur": 0.80})
    sandbox.control.refund(intent, 1000)
    delivered(sandbox)
    sandbox.control.configure(exchange_rates={"eur": 0.90})
    sandbox.control.open_dispute(intent, 500)
    delivered(sandbox)
    payouts = sandbox.control.payout()
    delivered(sandbox)
    return euro, pound, payouts


def test_sandbox_books_a_converted_charge_refund_and_dispute_in_the_settlement_currency(
    converted, sandbox, stripe_client, ledger
):
    euro, _, _ = converted
    intent = ledger.donation(euro.id).stripe_payment_intent_id
    charges = {t["source"]: t for t in stripe_balance(sandbox, type="charge")}
    assert {t["currency"] for t in charges.values()} == {"gbp"}
    charge = stripe_client.v1.charges.list(params={"payment_intent": intent}).data[0]
    txn = stripe_client.v1.balance_transactions.retrieve(charge.balance_transaction)
    # 30.00 EUR x 0.85 = 25.50 GBP; the fee is 1.5% + 20p plus 2% for the conversion, in pounds.
    assert (txn.amount, txn.currency, txn.exchange_rate) == (2550, "gbp", 0.85)
    assert (txn.fee, txn.net) == (38 + 20 + 51, 2550 - 109)
    (refund,) = stripe_client.v1.refunds.list(
        params={"charge": charge.id, "expand": ["data.balance_transaction"]}
    ).data
    assert (refund.amount, refund.currency) == (1000, "eur")
    assert (refund.balance_transaction.amount, refund.balance_transaction.currency) == (-800, "gbp")
    (dispute,) = stripe_client.v1.disputes.list(params={"charge": charge.id}).data
    assert (dispute.amount, dispute.currency) == (500, "eur")
    withdrawal = dispute.balance_transactions[0]
    assert (withdrawal.amount, withdrawal.currency, withdrawal.exchange_rate) == (-450, "gbp", 0.9)


def test_ledger_keeps_settlement_amounts_from_balance_transactions(converted, ledger):
    euro, pound, _ = converted
    (payment,) = ledger.payments(euro.id)
    assert (payment.amount, payment.currency, payment.amount_refunded, payment.dispute_amount) == (
        3000, "eur", 1000, 500)  # fmt: skip
    assert (payment.settlement_currency, payment.settlement_amount, payment.fee, payment.net) == (
        "gbp", 2550, 109, 2441)  # fmt: skip
    # Converted at the refund's and the dispute's own rates, not the charge's.
    assert (payment.settlement_refunded, payment.settlement_disputed) == (800, 450)
    (same,) = ledger.payments(pound.id)
    assert (same.settlement_currency, same.settlement_amount, same.settlement_refunded) == ("gbp", 1000, 0)


def test_reconciliation_never_mixes_currencies(converted, finance_get, sandbox):
    report = finance_get("/reconciliation?group_by=appeal").get_json()
    lines = {(g["currency"], g["settlement_currency"]): g for g in report["groups"]}
    assert set(lines) == {("eur", "gbp"), ("gbp", "gbp")}
    eur = lines[("eur", "gbp")]
    assert (eur["gross"], eur["refunded"], eur["disputed"]) == (3000, 1000, 500)
    assert (eur["settlement_gross"], eur["fees"], eur["net"]) == (2550, 109, 2441)
    assert (eur["settlement_refunded"], eur["settlement_disputed"]) == (800, 450)
    # The pounds left in the balance, from pounds only (today's code subtracted euros from pounds).
    assert eur["balance"] == 2441 - 800 - 450
    assert [t["currency"] for t in report["totals"]] == ["eur", "gbp"]
    (settled,) = report["settlement_totals"]
    gbp_fee = 15 + 20
    assert settled["settlement_currency"] == "gbp"
    assert settled["settlement_gross"] == 2550 + 1000
    assert settled["balance"] == (2441 - 800 - 450) + (1000 - gbp_fee)
    # The Stripe balance agrees: every transaction in pounds, summed.
    stripe_net = sum(t["net"] for t in stripe_balance(sandbox) if t["type"] != "payout")
    dispute_fee = 2000
    assert settled["balance"] - dispute_fee == stripe_net


def test_payout_gross_is_in_the_payout_currency(converted, finance_get):
    _, _, payouts = converted
    (payout,) = payouts
    assert payout["currency"] == "gbp"
    detail = finance_get(f"/payouts/{payout['id']}").get_json()
    assert detail["payment_count"] == 2
    # 25.50 GBP for the euro gift plus the 10.00 GBP gift: never 30 + 10 of two currencies.
    assert detail["payments_gross"] == 2550 + 1000
    assert detail["payments_net"] == 2441 + (1000 - 35)
    assert detail["adds_up"], detail
    euro_line = next(p for p in detail["payments"] if p["currency"] == "eur")
    assert (euro_line["amount"], euro_line["settlement_amount"], euro_line["settlement_currency"]) == (
        3000, 2550, "gbp")  # fmt: skip


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_dashboard_shows_each_figure_in_its_own_currency_at_phone_width(
    converted, browser, live_server, issue, repo_root
):
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/finance/")
        page.wait_for_url("**/finance/sign-in**")
        # Into the labelled field, not wherever the keyboard's focus is: typing before autofocus has
        # landed (a loaded machine) sent an empty token and the page never left sign-in.
        page.get_by_label("Finance token").fill(issue("viewer"))
        page.get_by_label("Finance token").press("Enter")
        page.wait_for_url(lambda url: "sign-in" not in url)
        totals = page.get_by_role("table", name="Totals per appeal and currency")
        rows = {
            row.inner_text().split("\t")[1].strip(): row.inner_text()
            for row in totals.locator("tbody tr").all()
        }
        # The euro gifts' line: charge figures in euros, then everything settled in pounds.
        cells = rows["EUR"].split("\t")
        assert cells[3:6] == ["€30.00", "€10.00", "€5.00"]  # gross, refunded, disputed
        assert cells[6:] == ["GBP", "£25.50", "£1.09", "£24.41", "£8.00", "£4.50", "£11.91"]
        assert "Stripe balance" in totals.locator("tfoot").inner_text()
        page.screenshot(
            path=str(repo_root / "test-artifacts" / "finance-dashboard-converted-375.png"), full_page=True
        )
    finally:
        context.close()
