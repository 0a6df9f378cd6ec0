"""What happens when a Checkout Session is paid: payment intent, charge, balance
transaction, session completion, async bank debits, and expiry. Each state
change emits the event Stripe would send, in Stripe's usual order.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox import connect, money
from sandbox import payment_objects as objects
from sandbox.core import Sandbox
from sandbox.errors import invalid
from sandbox.ids import now

Obj = dict[str, Any]

# Which bank debit a currency's donors would use, for realistic charge details.
BANK_DEBIT = {"gbp": "bacs_debit", "eur": "sepa_debit", "usd": "us_bank_account"}


# Business days from the debit to the bank's answer: Bacs "7 business days" with a new mandate,
# SEPA "up to 14 business days, 7 to 8 on average", ACH 4 (docs.stripe.com/payments/bacs-debit,
# /sepa-debit, /ach-direct-debit). The bank's clock settles a
# debit once this much time has passed for it (sandbox/bank_clock.py).
SETTLE_BUSINESS_DAYS = {"bacs_debit": 7, "sepa_debit": 8, "us_bank_account": 4}
# A later debit on a mandate already in place (a monthly gift's renewal): Bacs "takes 4 business
# days to confirm the success or failure of a payment when a mandate is already in place"
# (docs.stripe.com/payments/payment-methods/bacs-debit); SEPA's timing is the same as a first's.
RENEWAL_SETTLE_BUSINESS_DAYS = {"bacs_debit": 4, "sepa_debit": 8}
DAY = 86_400


def debit_due_at(kind: str, created: int, business_days: dict[str, int] = SETTLE_BUSINESS_DAYS) -> int:
    """When the bank answers a debit made at ``created``: that many weekdays later."""
    due, left = created, business_days.get(kind, 4)
    while left:
        due += DAY
        left -= time.gmtime(due).tm_wday < 5
    return due


def bank_time(sb: Sandbox, at: int) -> int:
    """``at`` on the banks' clock: real time plus the days the bank clock has been advanced."""
    return at + sb.store.table("bank_clock").get("offset", 0)


def expect_bank_answer(
    sb: Sandbox, key: str, kind: str, created: int, business_days: dict[str, int] = SETTLE_BUSINESS_DAYS
) -> None:
    """Remember when the debit of this session (or renewal's invoice) settles, for the bank's clock.

    Counted from the debit's moment on the banks' clock, so a debit made after the clock was
    advanced still waits its scheme's days."""
    sb.store.table("debits_due")[key] = debit_due_at(kind, bank_time(sb, created), business_days)


def bank_debit_type(session: Obj) -> str | None:
    """The bank debit this session offers (its currency's scheme), or None if it offers none."""
    kind = BANK_DEBIT.get(session["currency"])
    return kind if kind in (session.get("payment_method_types") or ()) else None


def attach_balance_transaction(sb: Sandbox, ch: Obj) -> Obj:
    """Create the charge's balance transaction and announce it with charge.updated.

    Stripe may send charge.succeeded before the balance transaction exists;
    integrations that need the fee must read it from charge.updated (or expand).
    """
    currency, rate = sb.settlement(ch["currency"])
    amount = ch["amount"]
    if rate is None:
        fee = sb.fee(currency).on(amount)
    else:
        # Converted at the charge's moment; the fee is charged in the settlement currency, with
        # Stripe's conversion fee on top (https://docs.stripe.com/currencies/conversions).
        amount = money.convert(amount, ch["currency"], currency, rate)
        fee = sb.fee(currency).on(amount) + int(amount * money.CONVERSION_FEE_PERCENT / 100 + 0.5)
    txn = objects.balance_transaction(
        amount=amount,
        currency=currency,
        fee=fee,
        type_="charge",
        source=ch["id"],
        reporting_category="charge",
        description=ch.get("description"),
        available_after_days=sb.options.available_after_days,
        exchange_rate=rate,
    )
    sb.store.add(txn)
    ch["balance_transaction"] = txn["id"]
    previous: Obj = {"balance_transaction": None}
    pi = sb.store.get(ch.get("payment_intent") or "")
    if pi is not None and connect.transfer_for_charge(sb, ch, pi) is not None:
        previous["transfer"] = None
    sb.events.emit("charge.updated", ch, previous)
    return txn


def ensure_payment_intent(sb: Sandbox, session: Obj) -> Obj:
    """The session's payment intent, created on the first payment attempt (as Checkout does)."""
    if session.get("payment_intent"):
        return sb.store.objects[session["payment_intent"]]
    extra = sb.store.table("checkout").get(session["id"], {})
    data = extra.get("payment_intent_data", {})
    pi = objects.payment_intent(
        session["amount_total"],
        session["currency"],
        metadata=data.get("metadata"),
        customer=session.get("customer"),
        description=data.get("description"),
        on_behalf_of=data.get("on_behalf_of"),
        transfer_data=_transfer_data(data.get("transfer_data")),
        transfer_group=data.get("transfer_group"),
        receipt_email=data.get("receipt_email"),
        statement_descriptor=data.get("statement_descriptor"),
        payment_method_types=session.get("payment_method_types"),
    )
    sb.store.add(pi)
    session["payment_intent"] = pi["id"]
    sb.events.emit("payment_intent.created", pi)
    return pi


def _transfer_data(data: Obj | None) -> Obj | None:
    if not data:
        return None
    return {"amount": data.get("amount"), "destination": data.get("destination")}


def require_open(session: Obj) -> None:
    if session["status"] != "open":
        raise invalid(
            f"This Checkout Session is no longer active (status: {session['status']}).",
            param="session",
        )


def _customer_details(session: Obj, email: str | None) -> Obj:
    return {
        "address": {"city": None, "country": "GB", "line1": None, "line2": None,
                    "postal_code": None, "state": None},
        "business_name": None,
        "email": email or session.get("customer_email"),
        "individual_name": None,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }  # fmt: skip


def decline_card(sb: Sandbox, session: Obj) -> Obj:
    """A declined card: failed charge and payment_failed; the session stays open."""
    with sb.store.lock:
        require_open(session)
        pi = ensure_payment_intent(sb, session)
        ch = sb.store.add(objects.charge(pi, status="failed"))
        pi.update(
            latest_charge=ch["id"],
            last_payment_error=objects.card_declined(ch),
            status="requires_payment_method",
        )  # fmt: skip
        sb.events.emit("charge.failed", ch)
        sb.events.emit("payment_intent.payment_failed", pi)
        return ch


def pay_with_card(sb: Sandbox, session: Obj, email: str | None = None) -> Obj:
    """A successful card payment in ``payment`` mode; completes the session."""
    with sb.store.lock:
        require_open(session)
        pi = ensure_payment_intent(sb, session)
        ch = sb.store.add(objects.charge(pi, kind="card"))
        _succeed_intent(sb, pi, ch)
        attach_balance_transaction(sb, ch)
        _complete(sb, session, email, paid=True)
        return ch


def pay_with_bank_debit(sb: Sandbox, session: Obj, email: str | None, outcome: str) -> Obj:
    """A bank debit: the session completes unpaid; the money arrives (or not) later."""
    if outcome not in ("succeeded", "failed"):
        raise invalid("outcome must be succeeded or failed", param="outcome")
    with sb.store.lock:
        require_open(session)
        kind = bank_debit_type(session)
        if kind is None:
            raise invalid("This Checkout Session does not offer a bank debit.", param="payment_method_types")
        pi = ensure_payment_intent(sb, session)
        ch = objects.charge(pi, kind=kind, status="pending")
        if kind in ("bacs_debit", "sepa_debit"):
            # Checkout collects a mandate with the account details; the charge names it.
            mandate = sb.store.add(objects.mandate(kind, ch["payment_method"]))
            ch["payment_method_details"] = objects.bank_debit_details(kind, mandate["id"], ch["created"])
        sb.store.add(ch)
        pi.update(
            latest_charge=ch["id"], payment_method=ch["payment_method"], status="processing",
            processing=None, last_payment_error=None, payment_method_types=[kind],
        )  # fmt: skip
        sb.events.emit("charge.pending", ch)
        sb.events.emit("payment_intent.processing", pi)
        _complete(sb, session, email, paid=False)
        sb.store.table("async_outcome")[pi["id"]] = outcome
        expect_bank_answer(sb, session["id"], kind, ch["created"])
    if sb.options.async_settle_seconds is not None:
        sb.later(sb.options.async_settle_seconds, lambda: _auto_settle(sb, session["id"]))
    return ch


def _auto_settle(sb: Sandbox, session_id: str) -> None:
    session = sb.store.get(session_id)
    if session is None:
        return
    pi = sb.store.get(session.get("payment_intent") or "")
    if pi and pi["status"] == "processing":
        settle_async(sb, session, None)
        sb.save()


def settle_async(sb: Sandbox, session: Obj, outcome: str | None) -> Obj:
    """Finish a processing bank debit: ``succeeded``, ``failed``, or the outcome chosen at pay time."""
    with sb.store.lock:
        pi = sb.store.get(session.get("payment_intent") or "")
        if pi is None or pi["status"] != "processing":
            raise invalid("This Checkout Session has no payment waiting to settle.", param="session")
        outcome = outcome or sb.store.table("async_outcome").get(pi["id"], "succeeded")
        ch = sb.store.objects[pi["latest_charge"]]
        if outcome == "succeeded":
            previous = {"status": "pending", "paid": False, "captured": False}
            ch.update(status="succeeded", paid=True, captured=True, amount_captured=ch["amount"])
            ch["outcome"]["seller_message"] = "Payment complete."
            sb.events.emit("charge.succeeded", ch, previous)
            _succeed_intent(sb, pi, ch, emit_charge=False)
            attach_balance_transaction(sb, ch)
            session["payment_status"] = "paid"
            sb.events.emit("checkout.session.async_payment_succeeded", session, {"payment_status": "unpaid"})
        elif outcome == "failed":
            fail_bank_debit(sb, ch, pi)
            sb.events.emit("checkout.session.async_payment_failed", session)
        else:
            raise invalid("outcome must be succeeded or failed", param="outcome")
        return ch


def fail_bank_debit(sb: Sandbox, ch: Obj, pi: Obj) -> None:
    """The bank refused a pending debit: charge.failed, the mandate inactive, payment_failed."""
    ch.update(
        status="failed", failure_code="debit_not_authorized",
        failure_message="The customer notified their bank that this payment was unauthorized.",
    )  # fmt: skip
    ch["outcome"].update(type="blocked", network_status="declined_by_network")
    pi.update(
        status="requires_payment_method",
        last_payment_error={"code": "debit_not_authorized", "charge": ch["id"],
                            "message": ch["failure_message"], "type": "card_error"},
    )  # fmt: skip
    sb.events.emit("charge.failed", ch, {"status": "pending"})
    # "Not authorised": the donor's bank cancelled the mandate, so it cannot serve renewals.
    revoke_mandate(sb, _mandate_id(ch), "debit_not_authorized")
    sb.events.emit("payment_intent.payment_failed", pi, {"status": "processing"})


def _mandate_id(ch: Obj) -> str | None:
    details = ch.get("payment_method_details") or {}
    return (details.get(details.get("type") or "") or {}).get("mandate")


def revoke_mandate(sb: Sandbox, mandate_id: str | None, reason: str) -> Obj | None:
    """A mandate the donor's bank no longer honours: ``inactive``, announced by ``mandate.updated``.

    Bacs also reports it on the network (``network_status`` ``revoked`` with a
    ``revocation_reason``, stripe-python's Mandate.PaymentMethodDetails.BacsDebit).
    """
    mandate = sb.store.get(mandate_id or "")
    if mandate is None or mandate["status"] != "active":
        return None
    previous: Obj = {"status": "active"}
    mandate["status"] = "inactive"
    bacs = (mandate.get("payment_method_details") or {}).get("bacs_debit")
    if bacs is not None:
        previous["payment_method_details"] = {"bacs_debit": {"network_status": bacs["network_status"],
                                                             "revocation_reason": None}}  # fmt: skip
        bacs.update(network_status="revoked", revocation_reason=reason)
    sb.events.emit("mandate.updated", mandate, previous)
    return mandate


def _succeed_intent(sb: Sandbox, pi: Obj, ch: Obj, emit_charge: bool = True) -> None:
    pi.update(
        amount_received=pi["amount"],
        last_payment_error=None,
        latest_charge=ch["id"],
        payment_method=ch["payment_method"],
        status="succeeded",
    )
    if emit_charge:
        sb.events.emit("charge.succeeded", ch)
    sb.events.emit("payment_intent.succeeded", pi)


def _complete(sb: Sandbox, session: Obj, email: str | None, paid: bool) -> None:
    session.update(
        customer_details=_customer_details(session, email),
        payment_status="paid" if paid else "unpaid",
        status="complete",
        url=None,
    )
    sb.store.table("open_sessions").pop(session["id"], None)
    sb.events.emit("checkout.session.completed", session)


def expire(sb: Sandbox, session: Obj) -> Obj:
    with sb.store.lock:
        if session["status"] != "open":
            raise invalid('Only Checkout Sessions with a status in ["open"] can be expired.', param="session")
        session.update(status="expired", url=None)
        sb.store.table("open_sessions").pop(session["id"], None)
        pi = sb.store.get(session.get("payment_intent") or "")
        if pi and pi["status"] == "requires_payment_method":
            pi.update(status="canceled", canceled_at=now(), cancellation_reason="abandoned")
            sb.events.emit("payment_intent.canceled", pi)
        sb.events.emit("checkout.session.expired", session, {"status": "open"})
        return session


def expire_due(sb: Sandbox, session: Obj) -> None:
    """Expire an open session whose ``expires_at`` has passed (checked lazily on access)."""
    if session["status"] == "open" and session["expires_at"] <= now():
        expire(sb, session)
