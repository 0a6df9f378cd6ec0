"""Subscription-mode Checkout: customer, subscription, invoices and their payments;
renewals (paid or failed) and cancellation."""

from __future__ import annotations

import copy
from typing import Any

from sandbox import billing_objects as billing
from sandbox import payment_objects as objects
from sandbox.core import Sandbox
from sandbox.errors import invalid
from sandbox.ids import now
from sandbox.payments import (
    RENEWAL_SETTLE_BUSINESS_DAYS,
    _complete,
    attach_balance_transaction,
    bank_debit_type,
    expect_bank_answer,
    fail_bank_debit,
    require_open,
)

Obj = dict[str, Any]
RETRY_AFTER = 3 * 86_400  # Smart Retries' first retry is a few days later


def _new_subscription(sb: Sandbox, session: Obj, email: str | None) -> tuple[Obj, Obj]:
    """The customer and subscription a subscription-mode session creates (not yet stored)."""
    extra = sb.store.table("checkout").get(session["id"], {})
    cust = sb.store.get(session.get("customer") or "")
    if cust is None:
        cust = sb.store.add(billing.customer(email or session.get("customer_email")))
        sb.events.emit("customer.created", cust)
    items = extra.get("line_items", [])
    recurring = next(i for i in items if i["price"]["recurring"])
    sub_data = extra.get("subscription_data", {})
    sub = billing.subscription(
        cust["id"], recurring["price"], recurring["quantity"],
        sub_data.get("metadata") or {}, sub_data.get("description"),
    )  # fmt: skip
    transfer = sub_data.get("transfer_data") or None
    if transfer:
        # A Connect appeal's monthly gift: every invoice's charge is a destination charge.
        percent = transfer.get("amount_percent")
        sub["transfer_data"] = {
            "amount_percent": float(percent) if percent is not None else None,
            "destination": transfer["destination"],
        }
    sub["on_behalf_of"] = sub_data.get("on_behalf_of")
    return sub, cust


def subscribe(sb: Sandbox, session: Obj, email: str | None) -> Obj:
    """Complete a subscription-mode session paid by card; returns the subscription."""
    with sb.store.lock:
        require_open(session)
        sub, cust = _new_subscription(sb, session, email)
        sb.store.add(sub)
        sb.events.emit("customer.subscription.created", sub)
        item = sub["items"]["data"][0]
        period = (item["current_period_start"], item["current_period_end"])
        inv = charge_invoice(sb, sub, cust, "subscription_create", period, succeed=True)
        session.update(customer=cust["id"], subscription=sub["id"], invoice=inv["id"])
        _complete(sb, session, email, paid=True)
        return sub


def subscribe_by_bank_debit(sb: Sandbox, session: Obj, email: str | None, outcome: str) -> Obj:
    """A monthly gift whose first payment is a Bacs or SEPA debit: the session completes unpaid.

    As live Stripe: the subscription is ``incomplete`` while its first invoice's payment is
    pending ("Subscriptions can also be incomplete if there's a pending payment ... the
    PaymentIntent status would be processing", docs.stripe.com/billing/subscriptions/overview,
    subscription statuses); the invoice stays ``open``, its charge ``pending`` with the mandate
    Checkout collected. :func:`settle_first_debit` finishes it days later (or the timer).
    """
    if outcome not in ("succeeded", "failed"):
        raise invalid("outcome must be succeeded or failed", param="outcome")
    with sb.store.lock:
        require_open(session)
        kind = bank_debit_type(session)
        if kind not in ("bacs_debit", "sepa_debit"):
            raise invalid("This Checkout Session does not offer a bank debit.", param="payment_method_types")
        sub, cust = _new_subscription(sb, session, email)
        sub["status"] = "incomplete"
        sb.store.add(sub)
        sb.events.emit("customer.subscription.created", sub)
        item = sub["items"]["data"][0]
        inv = sb.store.add(
            billing.invoice(
                sub, cust, "subscription_create", (item["current_period_start"], item["current_period_end"])
            )
        )
        draft = copy.deepcopy(inv)
        draft["status"] = "draft"
        sb.events.emit("invoice.created", draft)
        sb.events.emit("invoice.finalized", inv, {"status": "draft"})
        pi = sb.store.add(
            objects.payment_intent(
                inv["amount_due"], inv["currency"], customer=cust["id"], description="Subscription creation",
                payment_method_types=[kind],
            )
        )  # fmt: skip
        _destination(sub, inv, pi)
        sb.events.emit("payment_intent.created", pi)
        ch = objects.charge(pi, kind=kind, status="pending")
        mandate = sb.store.add(objects.mandate(kind, ch["payment_method"]))
        ch["payment_method_details"] = objects.bank_debit_details(kind, mandate["id"], ch["created"])
        sb.store.add(ch)
        pi.update(latest_charge=ch["id"], payment_method=ch["payment_method"], status="processing")
        # The debit is the subscription's way to pay from now on (renewals use the same mandate).
        sub["default_payment_method"] = ch["payment_method"]
        sub["latest_invoice"] = inv["id"]
        inv.update(attempted=True, attempt_count=1)
        sb.store.add(billing.invoice_payment(inv, pi["id"], paid=False))
        sb.events.emit("charge.pending", ch)
        sb.events.emit("payment_intent.processing", pi)
        session.update(customer=cust["id"], subscription=sub["id"], invoice=inv["id"])
        _complete(sb, session, email, paid=False)
        sb.store.table("async_outcome")[pi["id"]] = outcome
        sb.store.table("first_debit")[session["id"]] = {"invoice": inv["id"], "payment_intent": pi["id"]}
        expect_bank_answer(sb, session["id"], kind, ch["created"])
    if sb.options.async_settle_seconds is not None:
        sb.later(sb.options.async_settle_seconds, lambda: _auto_settle_first_debit(sb, session["id"]))
    return sub


def _invoice_charge(sb: Sandbox, sub: Obj, pi: Obj, succeed: bool) -> tuple[Obj, bool]:
    """The charge of one attempt at an invoice, stored; and whether it succeeded.

    A gift paid by bank debit is charged on its mandate. An inactive mandate (the donor cancelled
    it at their bank) cannot be debited: the attempt fails whatever was asked.
    """
    mandate = debit_mandate(sb, sub)
    if mandate is None:
        return sb.store.add(objects.charge(pi, status="succeeded" if succeed else "failed")), succeed
    kind = mandate["payment_method_details"]["type"]
    succeed = succeed and mandate["status"] == "active"
    ch = objects.charge(pi, kind=kind, status="succeeded" if succeed else "failed")
    ch["payment_method"] = sub["default_payment_method"]
    ch["payment_method_details"] = objects.bank_debit_details(kind, mandate["id"], ch["created"])
    if not succeed:
        ch.update(failure_code="debit_not_authorized",
                  failure_message="The customer notified their bank that this payment was unauthorized.")  # fmt: skip
    return sb.store.add(ch), succeed


def debit_mandate(sb: Sandbox, sub: Obj) -> Obj | None:
    """The mandate of the bank debit a subscription pays by, or None (a card)."""
    method = sub.get("default_payment_method")
    if not method:
        return None
    return next((m for m in sb.store.newest_first("mandate") if m["payment_method"] == method), None)


def _auto_settle_first_debit(sb: Sandbox, session_id: str) -> None:
    session = sb.store.get(session_id)
    first = sb.store.table("first_debit").get(session_id)
    if session is None or first is None:
        return
    pi = sb.store.get(first["payment_intent"])
    if pi and pi["status"] == "processing":
        settle_first_debit(sb, session, None)
        sb.save()


def settle_first_debit(sb: Sandbox, session: Obj, outcome: str | None) -> Obj:
    """The bank's answer to a monthly gift's first debit, days after Checkout.

    Succeeded: charge and PaymentIntent succeed, the invoice is paid (``invoice.paid``,
    ``invoice.payment_succeeded``), the subscription becomes ``active``, and the session reports
    ``checkout.session.async_payment_succeeded``. Failed: the charge fails
    (``debit_not_authorized``), the mandate becomes inactive, ``invoice.payment_failed`` (no
    further attempt: an incomplete subscription is not retried), the invoice is voided and the
    subscription ends ``incomplete_expired`` with ``canceled_at``/``ended_at`` set, announced by
    ``customer.subscription.updated`` (as live Stripe sends it: github.com/pay-rails/pay/issues/91),
    then ``checkout.session.async_payment_failed``.
    """
    with sb.store.lock:
        first = sb.store.table("first_debit").get(session["id"])
        pi = sb.store.get(first["payment_intent"]) if first else None
        if first is None or pi is None or pi["status"] != "processing":
            raise invalid("This Checkout Session has no payment waiting to settle.", param="session")
        outcome = outcome or sb.store.table("async_outcome").get(pi["id"], "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise invalid("outcome must be succeeded or failed", param="outcome")
        inv = sb.store.objects[first["invoice"]]
        sub = sb.store.objects[session["subscription"]]
        ch = sb.store.objects[pi["latest_charge"]]
        payment = next(p for p in sb.store.newest_first("invoice_payment") if p["invoice"] == inv["id"])
        if outcome == "succeeded":
            _debit_paid(sb, inv, pi, ch, payment)
            sub["status"] = "active"
            sb.events.emit("customer.subscription.updated", sub, {"status": "incomplete"})
            session["payment_status"] = "paid"
            sb.events.emit("checkout.session.async_payment_succeeded", session, {"payment_status": "unpaid"})
            return inv
        fail_bank_debit(sb, ch, pi)
        inv["next_payment_attempt"] = None
        sb.events.emit("invoice.payment_failed", inv)
        stamp = now()
        payment.update(status="canceled")
        payment["status_transitions"]["canceled_at"] = stamp
        inv.update(status="void", amount_remaining=inv["amount_due"])
        inv["status_transitions"]["voided_at"] = stamp
        sb.events.emit("invoice.voided", inv, {"status": "open"})
        sub.update(status="incomplete_expired", canceled_at=stamp, ended_at=stamp)
        sb.events.emit(
            "customer.subscription.updated",
            sub,
            {"status": "incomplete", "canceled_at": None, "ended_at": None},
        )
        sb.events.emit("checkout.session.async_payment_failed", session)
        return inv


def _debit_paid(sb: Sandbox, inv: Obj, pi: Obj, ch: Obj, payment: Obj) -> None:
    """The bank paid an invoice's pending debit (a first or a renewal): charge, PaymentIntent,
    balance transaction, InvoicePayment and invoice all paid, each with Stripe's event."""
    ch.update(status="succeeded", paid=True, captured=True, amount_captured=ch["amount"])
    ch["outcome"]["seller_message"] = "Payment complete."
    sb.events.emit("charge.succeeded", ch, {"status": "pending", "paid": False, "captured": False})
    pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
    sb.events.emit("payment_intent.succeeded", pi, {"status": "processing"})
    attach_balance_transaction(sb, ch)
    payment.update(status="paid", amount_paid=inv["amount_due"])
    payment["status_transitions"]["paid_at"] = now()
    inv.update(amount_paid=inv["amount_due"], amount_remaining=0, status="paid")
    inv["status_transitions"]["paid_at"] = now()
    sb.events.emit("invoice.paid", inv, {"status": "open", "amount_paid": 0})
    sb.events.emit("invoice.payment_succeeded", inv)


def _destination(sub: Obj, inv: Obj, pi: Obj) -> None:
    transfer = sub.get("transfer_data")
    if transfer:
        # amount_percent is "the percentage of the subscription invoice total that will be
        # transferred" (stripe-python); the sandbox rounds half up to the minor unit.
        percent = transfer.get("amount_percent")
        amount = None if percent is None else int(inv["amount_due"] * percent / 100 + 0.5)
        pi.update(transfer_data={"amount": amount, "destination": transfer["destination"]},
                  on_behalf_of=sub.get("on_behalf_of"))  # fmt: skip


def charge_invoice(
    sb: Sandbox, sub: Obj, cust: Obj, reason: str, period: tuple[int, int], *, succeed: bool
) -> Obj:
    """Create a finalized invoice for ``period`` and try to collect it.

    A gift paid by bank debit on an active mandate is not settled here: the debit is made and
    the invoice stays ``open`` until the bank answers (:func:`_start_renewal_debit`).
    """
    inv = sb.store.add(billing.invoice(sub, cust, reason, period))
    draft = copy.deepcopy(inv)
    draft["status"] = "draft"
    sb.events.emit("invoice.created", draft)
    sb.events.emit("invoice.finalized", inv, {"status": "draft"})
    mandate = debit_mandate(sb, sub)
    debit = mandate if mandate is not None and mandate["status"] == "active" else None
    pi = sb.store.add(
        objects.payment_intent(
            inv["amount_due"], inv["currency"], customer=cust["id"],
            description="Subscription creation" if reason == "subscription_create"
            else "Subscription update",
            payment_method_types=[debit["payment_method_details"]["type"]] if debit else None,
        )
    )  # fmt: skip
    _destination(sub, inv, pi)
    sb.events.emit("payment_intent.created", pi)
    previous_sub = {"latest_invoice": sub.get("latest_invoice")}
    if debit is not None:
        sub["latest_invoice"] = inv["id"]
        inv.update(attempted=True, attempt_count=1)
        _start_renewal_debit(sb, sub, inv, pi, debit, "succeeded" if succeed else "failed")
        if reason != "subscription_create":
            sb.events.emit("customer.subscription.updated", sub, previous_sub)
        return inv
    ch, succeed = _invoice_charge(sb, sub, pi, succeed)
    pi.update(latest_charge=ch["id"], payment_method=ch["payment_method"])
    sub["latest_invoice"] = inv["id"]
    inv.update(attempted=True, attempt_count=1)
    sb.store.add(billing.invoice_payment(inv, pi["id"], paid=succeed))
    if succeed:
        pi.update(status="succeeded", amount_received=pi["amount"])
        sb.events.emit("charge.succeeded", ch)
        sb.events.emit("payment_intent.succeeded", pi)
        attach_balance_transaction(sb, ch)
        inv.update(amount_paid=inv["amount_due"], amount_remaining=0, status="paid")
        inv["status_transitions"]["paid_at"] = now()
        sb.events.emit("invoice.paid", inv, {"status": "open", "amount_paid": 0})
        sb.events.emit("invoice.payment_succeeded", inv)
    else:
        pi.update(
            status="requires_payment_method",
            last_payment_error=objects.card_declined(ch, email=cust.get("email")),
        )  # fmt: skip
        inv["next_payment_attempt"] = now() + RETRY_AFTER
        sb.events.emit("charge.failed", ch)
        sb.events.emit("payment_intent.payment_failed", pi)
        sb.events.emit("invoice.payment_failed", inv)
    if reason != "subscription_create":
        sb.events.emit("customer.subscription.updated", sub, previous_sub)
    return inv


def _start_renewal_debit(sb: Sandbox, sub: Obj, inv: Obj, pi: Obj, mandate: Obj, outcome: str) -> None:
    """A renewal collected by Bacs or SEPA Direct Debit: made now, answered by the bank days later.

    As live Stripe: the charge is ``pending`` and the PaymentIntent ``processing``
    (``charge.pending``, ``payment_intent.processing``) while the invoice stays ``open`` and the
    subscription ``active``; Bacs answers 4 business days later with a mandate in place
    (docs.stripe.com/payments/bacs-debit), SEPA in up to 14 (docs.stripe.com/payments/sepa-debit;
    ``payments.RENEWAL_SETTLE_BUSINESS_DAYS``). The bank's clock, the timer or the ``settle``
    control finishes it (:func:`settle_renewal_debit`) with ``outcome``, as a first debit is.
    """
    kind = mandate["payment_method_details"]["type"]
    ch = objects.charge(pi, kind=kind, status="pending")
    ch["payment_method"] = sub["default_payment_method"]
    ch["payment_method_details"] = objects.bank_debit_details(kind, mandate["id"], ch["created"])
    sb.store.add(ch)
    pi.update(latest_charge=ch["id"], payment_method=ch["payment_method"], status="processing")
    sb.store.add(billing.invoice_payment(inv, pi["id"], paid=False))
    sb.events.emit("charge.pending", ch)
    sb.events.emit("payment_intent.processing", pi)
    sb.store.table("async_outcome")[pi["id"]] = outcome
    sb.store.table("renewal_debits")[inv["id"]] = pi["id"]
    expect_bank_answer(sb, inv["id"], kind, ch["created"], RENEWAL_SETTLE_BUSINESS_DAYS)


def renewal_debit_pending(sb: Sandbox, inv: Obj) -> bool:
    """Whether this invoice's bank debit is still waiting for the bank's answer."""
    pi = sb.store.get(sb.store.table("renewal_debits").get(inv["id"]) or "")
    return pi is not None and pi["status"] == "processing"


def _auto_settle_renewal_debit(sb: Sandbox, invoice_id: str) -> None:
    inv = sb.store.get(invoice_id)
    if inv is not None and renewal_debit_pending(sb, inv):
        settle_renewal_debit(sb, inv, None)
        sb.save()


def settle_renewal_debit(sb: Sandbox, inv: Obj, outcome: str | None) -> Obj:
    """The bank's answer to a renewal's debit, days after it was made.

    Succeeded: charge and PaymentIntent succeed, the invoice is paid (``invoice.paid``,
    ``invoice.payment_succeeded``). Failed: the charge fails (``debit_not_authorized``, the
    mandate inactive), ``invoice.payment_failed`` with Stripe's next attempt scheduled, and an
    active subscription becomes ``past_due``, as a card's failed renewal does.
    """
    with sb.store.lock:
        if not renewal_debit_pending(sb, inv):
            raise invalid("This invoice has no debit waiting to settle.", param="invoice")
        pi = sb.store.objects[sb.store.table("renewal_debits")[inv["id"]]]
        outcome = outcome or sb.store.table("async_outcome").get(pi["id"], "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise invalid("outcome must be succeeded or failed", param="outcome")
        sb.store.table("debits_due").pop(inv["id"], None)
        sub_id = ((inv.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        sub = sb.store.require(sub_id or "", "subscription")
        ch = sb.store.objects[pi["latest_charge"]]
        payment = next(p for p in sb.store.newest_first("invoice_payment") if p["invoice"] == inv["id"])
        previous_status = sub["status"]
        if outcome == "succeeded":
            _debit_paid(sb, inv, pi, ch, payment)
            if previous_status == "past_due":
                sub["status"] = "active"
                sb.events.emit("customer.subscription.updated", sub, {"status": previous_status})
            return inv
        fail_bank_debit(sb, ch, pi)
        inv["next_payment_attempt"] = now() + RETRY_AFTER
        sb.events.emit("invoice.payment_failed", inv)
        if previous_status == "active":
            sub["status"] = "past_due"
            sb.events.emit("customer.subscription.updated", sub, {"status": previous_status})
        return inv


def advance(sb: Sandbox, sub: Obj, succeed: bool = True) -> Obj:
    """Move a subscription into its next period and bill it; returns the new invoice."""
    with sb.store.lock:
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid(f"Subscription {sub['id']} is {sub['status']}.", param="subscription")
        cust = sb.store.objects[sub["customer"]]
        item = sub["items"]["data"][0]
        start = item["current_period_end"]
        end = billing.period_end(start, item["price"]["recurring"])
        item.update(current_period_start=start, current_period_end=end)
        previous_status = sub["status"]
        inv = charge_invoice(sb, sub, cust, "subscription_cycle", (start, end), succeed=succeed)
        pending = renewal_debit_pending(sb, inv)
        if not pending:
            # Asked to succeed, a debit on an inactive mandate still fails (charge_invoice).
            new_status = "active" if inv["status"] == "paid" else "past_due"
            if new_status != previous_status:
                sub["status"] = new_status
                sb.events.emit("customer.subscription.updated", sub, {"status": previous_status})
    if pending and sb.options.async_settle_seconds is not None:
        sb.later(sb.options.async_settle_seconds, lambda: _auto_settle_renewal_debit(sb, inv["id"]))
    return inv


# Smart Retries' default: up to 4 attempts, then the subscription is canceled (Billing settings,
# "Manage failed payments": https://docs.stripe.com/billing/revenue-recovery/smart-retries).
MAX_ATTEMPTS = 4


def retry_invoice(sb: Sandbox, inv: Obj, succeed: bool) -> Obj:
    """Stripe's next automatic attempt at a failed invoice: a new charge on the same PaymentIntent.

    Paid: the invoice is paid and a past_due subscription becomes active again. Failed: one more
    ``invoice.payment_failed`` (attempt_count grows); after the last attempt the subscription is
    canceled (``customer.subscription.deleted``, cancellation_details.reason ``payment_failed``).
    """
    with sb.store.lock:
        if inv["status"] != "open":
            raise invalid(
                f"Invoice {inv['id']} is {inv['status']}; only an open invoice is retried.", param="invoice"
            )
        if renewal_debit_pending(sb, inv):
            # Its debit is still at the bank: there is nothing to retry until the bank answers.
            raise invalid(f"Invoice {inv['id']} has a payment processing.", param="invoice")
        sub_id = ((inv.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        sub = sb.store.require(sub_id or "", "subscription")
        # The invoice does not carry its payments (an includable field): its InvoicePayment does.
        payment = next(p for p in sb.store.newest_first("invoice_payment") if p["invoice"] == inv["id"])
        pi = sb.store.objects[payment["payment"]["payment_intent"]]
        ch, succeed = _invoice_charge(sb, sub, pi, succeed)
        pi.update(latest_charge=ch["id"], payment_method=ch["payment_method"])
        inv["attempt_count"] = (inv.get("attempt_count") or 1) + 1
        if succeed:
            pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
            sb.events.emit("charge.succeeded", ch)
            sb.events.emit("payment_intent.succeeded", pi)
            attach_balance_transaction(sb, ch)
            payment.update(status="paid", amount_paid=inv["amount_due"])
            payment["status_transitions"]["paid_at"] = now()
            inv.update(
                amount_paid=inv["amount_due"], amount_remaining=0, status="paid", next_payment_attempt=None
            )
            inv["status_transitions"]["paid_at"] = now()
            sb.events.emit("invoice.paid", inv, {"status": "open", "amount_paid": 0})
            sb.events.emit("invoice.payment_succeeded", inv)
            if sub["status"] != "active":
                previous = sub["status"]
                sub["status"] = "active"
                sb.events.emit("customer.subscription.updated", sub, {"status": previous})
            return inv
        sb.events.emit("charge.failed", ch)
        sb.events.emit("payment_intent.payment_failed", pi)
        last = inv["attempt_count"] >= MAX_ATTEMPTS
        inv["next_payment_attempt"] = None if last else now() + RETRY_AFTER
        sb.events.emit("invoice.payment_failed", inv)
        if last:
            _end_for_non_payment(sb, sub)
        return inv


def _end_for_non_payment(sb: Sandbox, sub: Obj) -> None:
    stamp = now()
    previous = {"status": sub["status"], "canceled_at": None, "ended_at": None}
    sub.update(status="canceled", canceled_at=stamp, ended_at=stamp,
               cancellation_details={"comment": None, "feedback": None, "reason": "payment_failed"})  # fmt: skip
    sb.events.emit("customer.subscription.deleted", sub, previous)


def cancel(sb: Sandbox, sub: Obj, details: Obj | None = None) -> Obj:
    with sb.store.lock:
        if sub["status"] == "canceled":
            raise invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                param="subscription",
            )
        stamp = now()
        previous = {"status": sub["status"], "canceled_at": None, "ended_at": None}
        sub.update(
            status="canceled",
            canceled_at=stamp,
            ended_at=stamp,
            cancellation_details={
                "comment": (details or {}).get("comment"),
                "feedback": (details or {}).get("feedback"),
                "reason": "cancellation_requested",
            },
        )
        sb.events.emit("customer.subscription.deleted", sub, previous)
        return sub
