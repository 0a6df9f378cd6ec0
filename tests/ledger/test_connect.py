"""Connect appeals: destination charges, the transfer to the charity, and the charity's own payouts.

The sandbox plays live Stripe: a charge with ``transfer_data.destination`` gets a ``transfer`` to
the connected account, the platform's ``type=transfer`` balance transaction, a ``py_`` payment on
the connected account, and that account's payouts are seen only with its ``Stripe-Account``.
"""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select, update

from service import extensions
from service.donations import DonationRequest, create_donation
from service.donations.checkout import transfer_percent
from service.donations.models import DonationStatus
from service.models import Appeal, Payout, Transfer
from tests.support.ledger import delivered

CHARITY = "acct_1RedCrossUK"


def _connect_appeal(app: Any) -> None:
    with extensions.database(app).sessionmaker.begin() as db:
        db.execute(update(Appeal).where(Appeal.slug == "red-cross-ukraine").values(stripe_account=CHARITY))
    extensions.appeal_cache(app).clear()  # the appeal changed: workers re-read it


def _donate(app: Any, amount: int, cover_fees: bool, frequency: str = "one_off") -> Any:
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            request = DonationRequest(
                appeal="red-cross-ukraine",
                amount=amount,
                currency="gbp",
                cover_fees=cover_fees,
                frequency=frequency,
            )
            donation, _ = create_donation(
                db, extensions.stripe_gateway(app), extensions.settings(app), request
            )
            return donation
        finally:
            db.close()


def _transfers(ledger: Any) -> list[Transfer]:
    with ledger._session() as db:
        return list(db.scalars(select(Transfer).order_by(Transfer.id)))


def _client(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_connect", base_addresses={"api": sandbox.base_url})


def test_destination_charge_keeps_the_charitys_transfer_apart_from_the_platforms_fee(
    live_server: Any, sandbox: Any, ledger: Any
) -> None:
    _connect_appeal(live_server.app)
    donation = _donate(live_server.app, 2500, cover_fees=True)
    assert donation.fee_cover_amount > 0
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)

    assert ledger.donation(donation.id).status == DonationStatus.PAID
    (payment,) = ledger.payments(donation.id)
    # The platform's side: the whole charge (gift + cover), and the Stripe fee it pays.
    assert payment.amount == 2500 + donation.fee_cover_amount
    assert payment.fee > 0 and payment.net == payment.amount - payment.fee
    # The charity's side: the whole gift, in its own record naming its account.
    (transfer,) = _transfers(ledger)
    assert (transfer.destination_account, transfer.amount, transfer.currency) == (CHARITY, 2500, "gbp")
    assert transfer.payment_id == payment.id and transfer.donation_id == donation.id
    assert transfer.destination_payment_id.startswith("py_")
    # As live Stripe has it: the charge names the transfer, the platform paid it out of its balance.
    client = _client(sandbox)
    charge = client.v1.charges.retrieve(payment.stripe_charge_id)
    live_transfer = client.v1.transfers.retrieve(charge.transfer)
    platform_txn = client.v1.balance_transactions.retrieve(live_transfer.balance_transaction)
    assert (platform_txn.type, platform_txn.amount) == ("transfer", -2500)
    # The charity's payment exists only for requests made as the connected account.
    on_charity = client.v1.charges.retrieve(
        transfer.destination_payment_id, options={"stripe_account": CHARITY}
    )
    assert on_charity.source_transfer == transfer.stripe_transfer_id
    try:
        client.v1.charges.retrieve(transfer.destination_payment_id)
    except stripe.InvalidRequestError as exc:
        assert exc.http_status == 404
    else:
        raise AssertionError("the platform saw the connected account's payment")


def test_charitys_own_payout_is_recorded_apart_and_carries_its_transfers(
    live_server: Any, sandbox: Any, ledger: Any
) -> None:
    _connect_appeal(live_server.app)
    donation = _donate(live_server.app, 4000, cover_fees=False)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    # Without fee cover the whole payment goes to the charity and the platform's balance pays the
    # fee: it has nothing to pay out, and its balance is the fee below zero.
    assert sandbox.control.payout(currency="gbp") == []
    (payment,) = ledger.payments(donation.id)
    balance = _client(sandbox).v1.balance.retrieve()
    assert [(b.amount, b.currency) for b in balance.available] == [(-payment.fee, "gbp")]
    (charity_payout,) = sandbox.control.payout(currency="gbp", account=CHARITY)
    delivered(sandbox)

    assert charity_payout["amount"] == 4000
    with ledger._session() as db:
        (stored,) = db.scalars(select(Payout))
    assert (stored.stripe_payout_id, stored.account, stored.payment_count) == (
        charity_payout["id"],
        CHARITY,
        1,
    )
    (transfer,) = _transfers(ledger)
    assert (transfer.amount, transfer.stripe_payout_id) == (4000, charity_payout["id"])
    # The charity's payout carried no platform payment, and no event failed on it.
    assert ledger.payments(donation.id)[0].stripe_payout_id is None
    assert all(e.outcome != "failed" for e in ledger.events())
    (charity_event,) = ledger.events(type="payout.paid", account=CHARITY)
    assert charity_event.outcome in ("processed", "duplicate")


def test_monthly_gift_of_a_connect_appeal_transfers_at_least_the_gift_every_month(
    live_server: Any, sandbox: Any, ledger: Any
) -> None:
    _connect_appeal(live_server.app)
    donation = _donate(live_server.app, 1000, cover_fees=True, frequency="monthly")
    total = donation.charge_amount
    sent = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")[-1]["params"]
    assert sent["subscription_data"]["on_behalf_of"] == CHARITY
    percent = float(sent["subscription_data"]["transfer_data"]["amount_percent"])
    assert percent == transfer_percent(1000, total) < 100
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    subscription_id = ledger.donation(donation.id).stripe_subscription_id
    sandbox.control.advance_subscription(subscription_id, "paid")
    delivered(sandbox)

    payments = ledger.payments(donation.id)
    transfers = _transfers(ledger)
    assert len(payments) == len(transfers) == 2
    for payment, transfer in zip(payments, transfers, strict=True):
        assert payment.amount == total and payment.fee > 0
        assert transfer.payment_id == payment.id and transfer.destination_account == CHARITY
        # The charity receives the whole gift (a minor unit more at most); the cover stays to pay the fee.
        assert 1000 <= transfer.amount <= 1001


def test_transfer_percent_never_leaves_the_charity_below_the_gift() -> None:
    for gift in range(100, 5000, 7):
        for cover in (0, 1, 19, 35, 77, 230):
            total = gift + cover
            percent = transfer_percent(gift, total)
            assert round(percent, 2) == percent and 0 < percent <= 100
            # Whether Stripe rounds the percentage's amount down or to the nearest unit.
            assert int(total * percent / 100 + 1e-9) >= gift
            assert transfer_percent(gift, total) - 0.01 < gift * 100 / total


def test_sync_events_recovers_a_charitys_payout_from_its_own_account(
    app: Any, runner: Any, sandbox: Any, ledger: Any
) -> None:
    # No webhook endpoint: every event, the charity account's included, must come from the backfill.
    _connect_appeal(app)
    donation = _donate(app, 2000, cover_fees=False)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    (charity_payout,) = sandbox.control.payout(currency="gbp", account=CHARITY)
    # The platform's event list does not show the charity's payout; its own account's does.
    client = _client(sandbox)
    assert not client.v1.events.list(params={"type": "payout.paid"}).data
    assert client.v1.events.list(params={"type": "payout.paid"}, options={"stripe_account": CHARITY}).data

    result = runner.invoke(args=["stripe", "sync-events", "--since", "1h"])
    assert result.exit_code == 0, result.output
    (transfer,) = _transfers(ledger)
    assert (transfer.amount, transfer.stripe_payout_id) == (2000, charity_payout["id"])
    with ledger._session() as db:
        (stored,) = db.scalars(select(Payout))
    assert (stored.account, stored.status, stored.payment_count) == (CHARITY, "paid", 1)
    (event,) = ledger.events(type="payout.paid")
    assert (event.account, event.source) == (CHARITY, "sync")


def test_refund_reversing_the_transfer_lowers_what_the_charity_received(
    live_server: Any, sandbox: Any, ledger: Any
) -> None:
    _connect_appeal(live_server.app)
    donation = _donate(live_server.app, 3000, cover_fees=False)
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    (payment,) = ledger.payments(donation.id)
    # A refund on a destination charge is the platform's unless the transfer is reversed with it.
    sandbox.control.refund(payment.stripe_charge_id, amount=1000)
    delivered(sandbox)
    assert _transfers(ledger)[0].amount_reversed == 0
    client = _client(sandbox)
    client.v1.refunds.create(
        params={"charge": payment.stripe_charge_id, "amount": 500, "reverse_transfer": True}
    )
    delivered(sandbox)

    (payment,) = ledger.payments(donation.id)
    assert payment.amount_refunded == 1500  # the platform's side: every refund
    (transfer,) = _transfers(ledger)
    assert (transfer.amount, transfer.amount_reversed) == (3000, 500)  # the charity's: its share back
    live = client.v1.transfers.retrieve(transfer.stripe_transfer_id)
    assert live.amount_reversed == 500 and live.reversals.data[0].source_refund is not None
    on_charity = client.v1.balance.retrieve(options={"stripe_account": CHARITY})
    assert sum(b.amount for b in on_charity.pending) + sum(b.amount for b in on_charity.available) == 2500
