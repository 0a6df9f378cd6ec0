"""Connect: destination charges and the connected account's own balance and payouts.

A charge whose payment intent has ``transfer_data.destination`` is a destination charge: Stripe
creates it on the platform, with the platform's charge balance transaction (the whole amount, the
Stripe fee), and at once transfers funds to the connected account: a ``transfer`` object
(``charge.transfer``), the platform's ``type=transfer`` balance transaction (negative), and on the
connected account a payment (``py_...``, ``source_transfer``) with its ``type=payment`` balance
transaction. The transfer is ``transfer_data.amount`` if given, else the whole charge amount
(docs.stripe.com/connect/destination-charges: "You determine whether some or all of those funds
are transferred to the connected account"; "Your account balance is debited for the cost of the
Stripe fees, refunds, and chargebacks").

Objects on a connected account are seen only by requests carrying its ``Stripe-Account`` header
(docs.stripe.com/connect/authentication), and events about them carry ``account`` (the Event
object's "The connected account that originates the event"). The account's payouts sweep its
own available balance (the ``POST /_sandbox/payouts`` control with ``account``).
"""

from __future__ import annotations

import threading
from typing import Any

from sandbox import payment_objects as objects
from sandbox.fixtures import template
from sandbox.ids import new_id, now

Obj = dict[str, Any]
OWNERS = "account_of"  # side table: object id -> the connected account it lives on

_current = threading.local()


def set_account(account: str | None) -> None:
    """The ``Stripe-Account`` of the request being handled (None: the platform)."""
    _current.value = account or None


def current_account() -> str | None:
    return getattr(_current, "value", None)


def owner(store: Any, obj_id: str) -> str | None:
    return store.table(OWNERS).get(obj_id)


def visible(store: Any, obj: Obj) -> bool:
    """Whether the current request's account may see ``obj``."""
    return owner(store, obj.get("id", "")) == current_account()


def _add_to(sb: Any, account: str, obj: Obj) -> Obj:
    sb.store.add(obj)
    sb.store.table(OWNERS)[obj["id"]] = account
    return obj


def transfer_for_charge(sb: Any, ch: Obj, pi: Obj) -> Obj | None:
    """Create the destination charge's transfer (and both accounts' balance transactions)."""
    data = ch.get("transfer_data") or {}
    destination = data.get("destination")
    if not destination or ch.get("transfer"):
        return None
    # application_fee_amount (an Application Fee object) is not modelled: the service never sends it.
    amount = data["amount"] if data.get("amount") is not None else ch["amount"]
    amount = max(0, min(int(amount), ch["amount"]))
    group = ch.get("transfer_group") or f"group_{pi['id']}"
    transfer_id, payment_id = new_id("tr"), new_id("py")
    platform_txn = objects.balance_transaction(
        amount=-amount, currency=ch["currency"], fee=0, type_="transfer", source=transfer_id,
        reporting_category="transfer", description=None, available_after_days=0,
    )  # fmt: skip
    sb.store.add(platform_txn)
    payment_txn = objects.balance_transaction(
        amount=amount, currency=ch["currency"], fee=0, type_="payment", source=payment_id,
        reporting_category="charge", description=None,
        available_after_days=sb.options.available_after_days,
    )  # fmt: skip
    _add_to(sb, destination, payment_txn)
    _add_to(sb, destination, connected_payment(payment_id, transfer_id, amount, ch, payment_txn["id"]))
    transfer = template(
        "transfer",
        id=transfer_id,
        amount=amount,
        amount_reversed=0,
        balance_transaction=platform_txn["id"],
        created=now(),
        currency=ch["currency"],
        description=None,
        destination=destination,
        destination_payment=payment_id,
        metadata={},
        reversals={"object": "list", "data": [], "has_more": False,
                   "url": f"/v1/transfers/{transfer_id}/reversals"},
        reversed=False,
        source_transaction=ch["id"],
        source_type="card",
        transfer_group=group,
    )  # fmt: skip
    sb.store.add(transfer)
    # Stripe names the transfer on the charge ("The ID of the resulting transfer will be returned
    # on the successful charge's `transfer` field", stripe-python's TransferData.destination).
    ch["transfer"] = transfer_id
    ch["transfer_group"] = group
    pi["transfer_group"] = group
    sb.events.emit("transfer.created", transfer)
    return transfer


def connected_payment(payment_id: str, transfer_id: str, amount: int, ch: Obj, txn_id: str) -> Obj:
    """The payment the connected account sees for a transfer (a charge object, ``py_...``)."""
    obj = template(
        "charge",
        id=payment_id,
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=None,
        balance_transaction=txn_id,
        calculated_statement_descriptor=None,
        captured=True,
        created=now(),
        currency=ch["currency"],
        customer=None,
        description=None,
        disputed=False,
        failure_code=None,
        failure_message=None,
        metadata={},
        on_behalf_of=None,
        paid=True,
        payment_intent=None,
        payment_method=None,
        receipt_email=None,
        receipt_url=None,
        refunded=False,
        shipping=None,
        source=None,
        source_transfer=transfer_id,
        status="succeeded",
        transfer_data=None,
        transfer_group=None,
    )
    obj["payment_method_details"] = {"type": "stripe_account", "stripe_account": {}}
    obj.pop("refunds", None)  # includable, as on every charge (sandbox/payment_objects.py)
    return obj


def reverse_for_refund(sb: Any, ch: Obj, refund_amount: int, refund_id: str) -> Obj | None:
    """A refund with ``reverse_transfer``: take the charity's share of it back from its account.

    Stripe reverses the transfer "proportionally to the amount being refunded" (stripe-python's
    RefundCreateParams.reverse_transfer); the sandbox rounds half up, never past what is left.
    Without it a destination charge's refund is the platform's alone.
    """
    transfer = sb.store.get(ch.get("transfer") or "")
    if transfer is None:
        return None
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = min(left, (refund_amount * transfer["amount"] * 2 + ch["amount"]) // (2 * ch["amount"]))
    if amount <= 0:
        return None
    account = transfer["destination"]
    reversal_id, payment_refund_id = new_id("trr"), new_id("pyr")
    platform_txn = objects.balance_transaction(
        amount=amount, currency=ch["currency"], fee=0, type_="transfer_refund", source=reversal_id,
        reporting_category="transfer_reversal", description=None, available_after_days=0,
    )  # fmt: skip
    sb.store.add(platform_txn)
    account_txn = objects.balance_transaction(
        amount=-amount, currency=ch["currency"], fee=0, type_="payment_refund", source=payment_refund_id,
        reporting_category="refund", description=None, available_after_days=0,
    )  # fmt: skip
    _add_to(sb, account, account_txn)
    payment_refund = template(
        "refund",
        id=payment_refund_id,
        amount=amount,
        balance_transaction=account_txn["id"],
        charge=transfer["destination_payment"],
        created=now(),
        currency=ch["currency"],
        destination_details=None,
        metadata={},
        payment_intent=None,
        reason=None,
        status="succeeded",
    )
    _add_to(sb, account, payment_refund)
    reversal = template(
        "transfer_reversal",
        id=reversal_id,
        amount=amount,
        balance_transaction=platform_txn["id"],
        created=now(),
        currency=ch["currency"],
        destination_payment_refund=payment_refund_id,
        metadata={},
        source_refund=refund_id,
        transfer=transfer["id"],
    )
    sb.store.add(reversal)
    previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    sb.events.emit("transfer.reversed", transfer, previous)
    return reversal
