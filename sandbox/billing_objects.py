"""Builders for customers, products, prices, line items, subscriptions and invoices."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from sandbox.fixtures import template
from sandbox.ids import new_id, now, random_token

Obj = dict[str, Any]


def customer(email: str | None, name: str | None = None) -> Obj:
    return template(
        "customer",
        id=new_id("cus"),
        created=now(),
        currency=None,
        discount=None,
        email=email,
        invoice_prefix=random_token(8).upper(),
        metadata={},
        name=name,
        shipping=None,
    )


def product(name: str, description: str | None = None, metadata: dict | None = None) -> Obj:
    return template(
        "product",
        id=new_id("prod"),
        created=now(),
        default_price=None,
        description=description,
        images=[],
        metadata=dict(metadata or {}),
        name=name,
        package_dimensions=None,
        type="service",
        updated=now(),
    )


def price(
    product_id: str,
    currency: str,
    unit_amount: int,
    recurring: Obj | None = None,
    *,
    active: bool = True,
    metadata: dict | None = None,
) -> Obj:
    if recurring:
        recurring = {
            "interval": recurring.get("interval", "month"),
            "interval_count": int(recurring.get("interval_count", 1)),
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    return template(
        "price",
        id=new_id("price"),
        active=active,
        created=now(),
        currency=currency,
        custom_unit_amount=None,
        metadata=dict(metadata or {}),
        product=product_id,
        recurring=recurring,
        transform_quantity=None,
        type="recurring" if recurring else "one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )


def item(price_obj: Obj, quantity: int, description: str) -> Obj:
    """A Checkout line item (object ``item``) with its price embedded, as Stripe returns it."""
    total = price_obj["unit_amount"] * quantity
    return template(
        "item",
        id=new_id("li"),
        adjustable_quantity=None,
        amount_discount=0,
        amount_subtotal=total,
        amount_tax=0,
        amount_total=total,
        currency=price_obj["currency"],
        description=description,
        metadata={},
        price=price_obj,
        quantity=quantity,
    )


def add_months(ts: int, months: int) -> int:
    """Same day next month, clamped to the month's last day (Stripe's billing anchors)."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


def period_end(start: int, recurring: Obj) -> int:
    count = int(recurring.get("interval_count") or 1)
    interval = recurring.get("interval", "month")
    if interval == "month":
        return add_months(start, count)
    if interval == "year":
        return add_months(start, 12 * count)
    days = {"day": 1, "week": 7}[interval]
    return start + days * count * 86_400


def plan(price_obj: Obj) -> Obj:
    """The legacy Plan mirror of a recurring price that Stripe still puts on each
    subscription item (``subscription_item.plan``, same id as the price)."""
    recurring = price_obj["recurring"]
    return template(
        "plan",
        id=price_obj["id"],
        active=price_obj["active"],
        amount=price_obj["unit_amount"],
        amount_decimal=str(price_obj["unit_amount"]),
        billing_scheme="per_unit",
        created=price_obj["created"],
        currency=price_obj["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        metadata=dict(price_obj.get("metadata") or {}),
        meter=None,
        nickname=price_obj.get("nickname"),
        product=price_obj["product"],
        tiers_mode=None,
        transform_usage=None,
        trial_period_days=None,
        usage_type="licensed",
    )


def subscription(
    customer_id: str, price_obj: Obj, quantity: int, metadata: dict, description: str | None
) -> Obj:
    start = now()
    sub_id = new_id("sub")
    sub_item = template("subscription", id=sub_id)["items"]["data"][0]
    sub_item.update(
        id=new_id("si"),
        billing_thresholds=None,
        created=start,
        current_period_start=start,
        current_period_end=period_end(start, price_obj["recurring"]),
        metadata={},
        price=price_obj,
        quantity=quantity,
        subscription=sub_id,
    )
    sub_item["plan"] = plan(price_obj)
    return template(
        "subscription",
        id=sub_id,
        billing_cycle_anchor=start,
        billing_cycle_anchor_config=None,
        billing_mode={"flexible": None, "type": "classic"},
        billing_schedules=[],
        billing_thresholds=None,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        created=start,
        currency=price_obj["currency"],
        customer=customer_id,
        description=description,
        ended_at=None,
        items={"object": "list", "data": [sub_item], "has_more": False,
               "url": f"/v1/subscription_items?subscription={sub_id}"},
        latest_invoice=None,
        managed_payments=None,
        metadata=dict(metadata or {}),
        next_pending_invoice_item_invoice=None,
        pause_collection=None,
        pending_invoice_item_interval=None,
        pending_update=None,
        start_date=start,
        status="active",
        transfer_data=None,
        trial_end=None,
        trial_start=None,
    )  # fmt: skip


def invoice(sub: Obj, cust: Obj, billing_reason: str, period: tuple[int, int]) -> Obj:
    """A finalized invoice for one period of ``sub``; the caller records its payment."""
    sub_item = sub["items"]["data"][0]
    price_obj = sub_item["price"]
    amount = price_obj["unit_amount"] * sub_item["quantity"]
    inv_id = new_id("in")
    created = now()
    line = template("line_item")
    line.update(
        id=new_id("il"),
        amount=amount,
        currency=sub["currency"],
        description=f"{sub_item['quantity']} × {price_obj.get('nickname') or 'donation'}",
        invoice=inv_id,
        parent={"invoice_item_details": None, "type": "subscription_item_details",
                "subscription_item_details": {"invoice_item": None, "proration": False,
                                              "proration_details": {"credited_items": None},
                                              "subscription": sub["id"],
                                              "subscription_item": sub_item["id"]}},
        period={"start": period[0], "end": period[1]},
        pricing={"type": "price_details", "unit_amount_decimal": str(price_obj["unit_amount"]),
                 "price_details": {"price": price_obj["id"], "product": price_obj["product"]}},
        quantity=sub_item["quantity"],
        subtotal=amount,
    )  # fmt: skip
    obj = template(
        "invoice",
        id=inv_id,
        account_name="Donation Router Sandbox",
        amount_due=amount,
        amount_overpaid=0,
        amount_paid=0,
        amount_remaining=amount,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        billing_reason=billing_reason,
        created=created,
        currency=sub["currency"],
        customer=cust["id"],
        customer_email=cust.get("email"),
        customer_name=cust.get("name"),
        customer_shipping=None,
        due_date=None,
        effective_at=created,
        ending_balance=0,
        from_invoice=None,
        hosted_invoice_url=f"https://invoice.stripe.com/i/{random_token(30)}",
        invoice_pdf=f"https://pay.stripe.com/invoice/{random_token(30)}/pdf",
        issuer={"type": "self"},
        last_finalization_error=None,
        lines={"object": "list", "data": [line], "has_more": False,
               "url": f"/v1/invoices/{inv_id}/lines"},
        next_payment_attempt=None,
        number=f"{cust['invoice_prefix']}-{random_token(4).upper()}",
        parent={"quote_details": None, "type": "subscription_details",
                "subscription_details": {"metadata": dict(sub.get("metadata") or {}),
                                         "subscription": sub["id"]}},
        period_start=period[0],
        period_end=period[1],
        shipping_cost=None,
        shipping_details=None,
        status="open",
        status_transitions={"finalized_at": created, "marked_uncollectible_at": None,
                            "paid_at": None, "voided_at": None},
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        webhooks_delivered_at=created,
    )  # fmt: skip
    # stripe-python 16.1 (API 2026-10-28) has no top-level invoice.subscription:
    # it lives under parent.subscription_details.subscription.
    obj.pop("subscription", None)
    return obj


def invoice_payment(inv: Obj, pi_id: str, paid: bool) -> Obj:
    """The link between an invoice and the PaymentIntent that paid it (object ``invoice_payment``).

    Stored as its own object: live Stripe leaves the invoice's ``payments`` out of webhook payloads
    and default responses; it is reached by ``expand[]=payments`` or ``GET /v1/invoice_payments``
    (https://docs.stripe.com/api/invoice-payment: "Invoice Payments can be accessed in two ways:
    by expanding the payments field on the Invoice resource, by using the Invoice Payment
    retrieve and list endpoints").
    """
    created = now()
    return template(
        "invoice_payment",
        id=new_id("inpay"),
        amount_paid=inv["amount_due"] if paid else None,
        amount_requested=inv["amount_due"],
        created=created,
        currency=inv["currency"],
        invoice=inv["id"],
        is_default=True,
        payment={"type": "payment_intent", "payment_intent": pi_id},
        status="paid" if paid else "open",
        status_transitions={"canceled_at": None, "paid_at": created if paid else None},
    )
