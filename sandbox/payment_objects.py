"""Builders for payment objects: payment intents, charges, balance transactions,
refunds, disputes and payouts. Each starts from Stripe's example object and
overrides every field whose example value would mislead (random amounts, ids).
"""

from __future__ import annotations

from typing import Any

from sandbox.fixtures import template
from sandbox.ids import new_id, now, random_token

Obj = dict[str, Any]
DAY = 86_400


def payment_method_details(kind: str) -> Obj:
    """``card`` (Visa 4242) or a bank debit (``sepa_debit``, ``bacs_debit``, ``us_bank_account``)."""
    if kind == "card":
        card = template("charge")["payment_method_details"]["card"]
        card.update(last4="4242", brand="visa", network="visa", country="GB", funding="credit")
        card["wallet"] = None
        return {"type": "card", "card": card}
    return {"type": kind, kind: {"last4": "3000", "fingerprint": random_token(16)}}


# When the bank is asked for the money: Bacs collects on the third working day after Stripe's
# advance notice; SEPA Core on the next business day or two. Stripe reports the date as
# ``payment_method_details.<kind>.expected_debit_date`` (stripe-python 16.1 Charge).
DEBIT_NOTICE_BUSINESS_DAYS = {"bacs_debit": 3, "sepa_debit": 2, "us_bank_account": 1}


def expected_debit_date(kind: str, created: int) -> str:
    import datetime as dt

    day = dt.datetime.fromtimestamp(created, dt.UTC).date()
    left = DEBIT_NOTICE_BUSINESS_DAYS.get(kind, 1)
    while left:
        day += dt.timedelta(days=1)
        left -= day.weekday() < 5
    return day.isoformat()


def bank_debit_details(kind: str, mandate_id: str, created: int) -> Obj:
    """A bank debit charge's ``payment_method_details``: account, mandate and collection date."""
    details: Obj = {"last4": "3000", "fingerprint": random_token(16)}
    if kind in ("bacs_debit", "sepa_debit"):
        details.update(mandate=mandate_id, expected_debit_date=expected_debit_date(kind, created))
        if kind == "bacs_debit":
            details["sort_code"] = "108800"
        else:
            details.update(bank_code="37040044", branch_code=None, country="DE")
    return {"type": kind, kind: details}


def mandate(kind: str, payment_method: str) -> Obj:
    """The mandate Checkout collects with a Bacs or SEPA debit (multi-use: it also serves renewals)."""
    reference = random_token(12).upper()
    if kind == "bacs_debit":
        method = {"display_name": "DONATION ROUTER", "network_status": "accepted", "reference": reference,
                  "revocation_reason": None, "service_user_number": "000000",
                  "url": f"https://payments.stripe.com/bacs_debit/mandate/{reference}"}  # fmt: skip
    else:
        method = {
            "reference": reference,
            "url": f"https://payments.stripe.com/sepa_debit/mandate/{reference}",
        }
    return template(
        "mandate",
        id=new_id("mandate"),
        customer_acceptance={
            "accepted_at": now(),
            "online": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (sandbox)"},
            "type": "online",
        },  # fmt: skip
        multi_use={},
        payment_method=payment_method,
        payment_method_details={"type": kind, kind: method},
        status="active",
        type="multi_use",
    )


def card_payment_method(pm_id: str, *, customer: str | None = None, email: str | None = None) -> Obj:
    """The PaymentMethod object of the test Visa 4242, as Stripe embeds it in
    ``last_payment_error.payment_method``."""
    card = template("payment_method")["card"]
    card.update(country="GB", generated_from=None, wallet=None, regulated_status="unregulated")
    card["networks"] = {"available": ["visa"], "preferred": None}
    return template(
        "payment_method",
        id=pm_id,
        allow_redisplay="unspecified",
        billing_details={"address": {"city": None, "country": "GB", "line1": None, "line2": None,
                                     "postal_code": None, "state": None},
                         "email": email, "name": None, "phone": None, "tax_id": None},
        card=card,
        created=now(),
        customer=customer,
        customer_account=None,
        metadata={},
        type="card",
    )  # fmt: skip


def card_declined(ch: Obj, *, email: str | None = None) -> Obj:
    """``last_payment_error`` for a declined card (Stripe's card_error shape)."""
    return {
        "charge": ch["id"], "code": "card_declined", "decline_code": "generic_decline",
        "doc_url": "https://docs.stripe.com/error-codes/card-declined",
        "message": "Your card was declined.", "param": None,
        "payment_method": card_payment_method(ch["payment_method"], customer=ch.get("customer"),
                                              email=email),
        "type": "card_error",
    }  # fmt: skip


def payment_intent(
    amount: int,
    currency: str,
    *,
    metadata: dict[str, str] | None = None,
    customer: str | None = None,
    description: str | None = None,
    on_behalf_of: str | None = None,
    transfer_data: Obj | None = None,
    transfer_group: str | None = None,
    receipt_email: str | None = None,
    statement_descriptor: str | None = None,
    payment_method_types: list[str] | None = None,
) -> Obj:
    pi_id = new_id("pi")
    return template(
        "payment_intent",
        id=pi_id,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        automatic_payment_methods=None,
        canceled_at=None,
        client_secret=f"{pi_id}_secret_{random_token(25)}",
        created=now(),
        currency=currency,
        customer=customer,
        description=description,
        last_payment_error=None,
        latest_charge=None,
        managed_payments=None,
        metadata=dict(metadata or {}),
        next_action=None,
        on_behalf_of=on_behalf_of,
        payment_method=None,
        payment_method_configuration_details=None,
        payment_method_types=payment_method_types or ["card"],
        processing=None,
        receipt_email=receipt_email,
        shipping=None,
        statement_descriptor=statement_descriptor,
        status="requires_payment_method",
        transfer_data=transfer_data,
        transfer_group=transfer_group,
    )


def charge(pi: Obj, *, kind: str = "card", status: str = "succeeded") -> Obj:
    """A charge for the whole of ``pi``; ``status`` is succeeded, pending or failed."""
    paid = status == "succeeded"
    charge_id = new_id("ch")
    obj = template(
        "charge",
        id=charge_id,
        amount=pi["amount"],
        amount_captured=pi["amount"] if paid else 0,
        amount_refunded=0,
        balance_transaction=None,
        calculated_statement_descriptor="DONATION ROUTER",
        captured=paid,
        created=now(),
        currency=pi["currency"],
        customer=pi.get("customer"),
        description=pi.get("description"),
        disputed=False,
        failure_code=None,
        failure_message=None,
        metadata=dict(pi.get("metadata") or {}),
        on_behalf_of=pi.get("on_behalf_of"),
        outcome={
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        paid=paid,
        payment_intent=pi["id"],
        payment_method=new_id("pm"),
        payment_method_details=payment_method_details(kind),
        receipt_email=pi.get("receipt_email"),
        receipt_url=f"https://pay.stripe.com/receipts/payment/{random_token(40)}",
        refunded=False,
        shipping=None,
        source=None,
        status=status,
        transfer_data=pi.get("transfer_data"),
        transfer_group=pi.get("transfer_group"),
    )  # fmt: skip
    # Includable since API 2022-11-15: only expand[]=refunds adds the list (sandbox.listing).
    obj.pop("refunds", None)
    if status == "failed":
        obj["failure_code"] = "card_declined"
        obj["failure_message"] = "Your card was declined."
        obj["outcome"].update(
            network_status="declined_by_network",
            reason="generic_decline",
            seller_message="The bank did not return any further details with this decline.",
            type="issuer_declined",
        )
    elif status == "pending":
        obj["outcome"]["seller_message"] = "Payment pending."
    return obj


def balance_transaction(
    *,
    amount: int,
    currency: str,
    fee: int,
    type_: str,
    source: str | None,
    reporting_category: str,
    description: str | None = None,
    available_after_days: int = 2,
    status: str | None = None,
    exchange_rate: float | None = None,
) -> Obj:
    created = now()
    available_on = created + available_after_days * DAY
    fee_details = []
    if fee:
        label = "Dispute fee" if reporting_category == "dispute" else "Stripe processing fees"
        fee_details = [
            {"amount": fee, "application": None, "currency": currency,
             "description": label, "type": "stripe_fee"}
        ]  # fmt: skip
    return template(
        "balance_transaction",
        id=new_id("txn"),
        amount=amount,
        available_on=available_on,
        created=created,
        currency=currency,
        description=description,
        exchange_rate=exchange_rate,
        fee=fee,
        fee_details=fee_details,
        net=amount - fee,
        reporting_category=reporting_category,
        source=source,
        status=status or ("pending" if available_after_days > 0 else "available"),
        type=type_,
        balance_type="payments",
    )


def refund(ch: Obj, amount: int, *, reason: str | None, metadata: dict[str, str]) -> Obj:
    return template(
        "refund",
        id=new_id("re"),
        amount=amount,
        balance_transaction=None,
        charge=ch["id"],
        created=now(),
        currency=ch["currency"],
        customer=ch.get("customer"),
        destination_details={"card": {"type": "refund", "reference_status": "pending",
                                      "reference_type": "acquirer_reference_number",
                                      "reference": None}, "type": "card"},
        metadata=dict(metadata or {}),
        payment_intent=ch.get("payment_intent"),
        payment_method=ch.get("payment_method"),
        reason=reason,
        status="succeeded",
    )  # fmt: skip


def dispute(ch: Obj, amount: int, reason: str) -> Obj:
    obj = template(
        "dispute",
        id=new_id("dp"),
        amount=amount,
        balance_transactions=[],
        charge=ch["id"],
        created=now(),
        currency=ch["currency"],
        enhanced_eligibility_types=[],
        is_charge_refundable=False,
        metadata={},
        payment_intent=ch.get("payment_intent"),
        reason=reason,
        status="needs_response",
    )
    obj["evidence_details"].update(due_by=now() + 7 * DAY, has_evidence=False, past_due=False)
    obj["payment_method_details"]["card"]["case_type"] = "chargeback"
    return obj


def payout(amount: int, currency: str) -> Obj:
    created = now()
    return template(
        "payout",
        id=new_id("po"),
        amount=amount,
        arrival_date=created,
        automatic=True,
        balance_transaction=None,
        created=created,
        currency=currency,
        description="STRIPE PAYOUT",
        destination=new_id("ba"),
        metadata={},
        reconciliation_status="not_applicable",
        source_type="card",
        status="pending",
        trace_id={"status": "pending", "value": None},
    )
