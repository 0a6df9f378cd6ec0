"""Endpoints for payment intents, charges, refunds, balance, payouts, disputes,
customers, subscriptions, invoices, events, prices, products and payment links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox import billing_objects as billing
from sandbox import connect, ledger, listing, subscriptions
from sandbox.api import Route
from sandbox.checkout import check_metadata
from sandbox.core import Sandbox
from sandbox.errors import invalid, not_found

Obj = dict[str, Any]
MAX_EVENT_TYPES = 20


def _retriever(kind: str) -> Callable[..., Obj]:
    def retrieve(sb: Sandbox, params: Obj, id: str) -> Obj:
        found = sb.store.require(id, kind)
        if not connect.visible(sb.store, found):
            # Another account's object does not exist for this one (Stripe answers 404 too).
            raise not_found(kind.replace("_", " "), id, "id")
        return found

    return retrieve


def _lister(kind: str, url: str, filters: tuple[str, ...] = ()) -> Callable[..., Obj]:
    """A list endpoint whose ``filters`` compare top-level fields for equality."""

    def list_(sb: Sandbox, params: Obj) -> Obj:
        wanted = {k: params[k] for k in filters if params.get(k) is not None}

        def keep(o: Obj) -> bool:
            return connect.visible(sb.store, o) and all(o.get(k) == v for k, v in wanted.items())

        return listing.paginate(sb.store.newest_first(kind), params, url, keep)

    return list_


def list_balance_transactions(sb: Sandbox, params: Obj) -> Obj:
    links = sb.store.table("txn_payout")
    if params.get("payout") and params["payout"] in sb.store.table("manual_payouts"):
        # Live Stripe's answer for a payout the account created itself (manual or instant):
        # only automatic payouts remember their transactions
        # (https://docs.stripe.com/api/balance_transactions/list: "For automatic Stripe payouts only").
        raise invalid(
            "Balance transaction history can only be filtered on automatic transfers, not manual.",
            param="payout",
        )
    wanted = {k: params[k] for k in ("type", "source", "currency") if params.get(k)}

    def keep(t: Obj) -> bool:
        if not connect.visible(sb.store, t):
            return False
        if params.get("payout") and links.get(t["id"]) != params["payout"]:
            return False
        return all(t.get(k) == v for k, v in wanted.items())

    items = sb.store.newest_first("balance_transaction")
    return listing.paginate(items, params, "/v1/balance_transactions", keep)


def list_events(sb: Sandbox, params: Obj) -> Obj:
    if params.get("type") and params.get("types"):
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    wanted_type = params.get("type")
    types = set(params.get("types") or [])
    if len(params.get("types") or []) > MAX_EVENT_TYPES:
        # stripe-python's EventListParams: "types: An array of up to 20 strings".
        raise invalid(
            f"Invalid array: must contain at most {MAX_EVENT_TYPES} elements", param="types",
        )  # fmt: skip
    success = params.get("delivery_success")

    def keep(e: Obj) -> bool:
        if e.get("account") != connect.current_account():
            return False
        if wanted_type and not _type_matches(e["type"], wanted_type):
            return False
        if types and e["type"] not in types:
            return False
        return success is None or sb.events.delivered(e["id"]) == success

    return listing.paginate(sb.store.newest_first("event"), params, "/v1/events", keep)


def _invoice_payments(sb: Sandbox, invoice_id: str) -> list[Obj]:
    return [p for p in sb.store.newest_first("invoice_payment") if p["invoice"] == invoice_id]


def _include_payments(sb: Sandbox, invoices: list[Obj], params: Obj, prefix: str) -> list[Obj]:
    """``payments`` is includable: present only when ``expand`` names it (or a path under it).

    Stripe's invoice object documents it as "includable": left out of webhook payloads and of
    default responses (fixtures3.json's invoice has no ``payments``).
    """
    expand = params.get("expand") or []
    field = f"{prefix}payments"
    if not any(e == field or e.startswith(field + ".") for e in expand):
        return invoices
    # The bare field is consumed here; deeper paths (payments.data.payment.payment_intent) are
    # expanded by the generic step once the list is in place.
    params["expand"] = [e for e in expand if e != field]
    result = []
    for inv in invoices:
        found = _invoice_payments(sb, inv["id"])
        url = f"/v1/invoice_payments?invoice={inv['id']}"
        result.append({**inv, "payments": listing.paginate(found, {"limit": 10}, url)})
    return result


def retrieve_invoice(sb: Sandbox, params: Obj, id: str) -> Obj:
    return _include_payments(sb, [sb.store.require(id, "invoice")], params, "")[0]


def list_invoice_payments(sb: Sandbox, params: Obj) -> Obj:
    payment = params.get("payment") or {}

    def keep(p: Obj) -> bool:
        if params.get("invoice") and p["invoice"] != params["invoice"]:
            return False
        if params.get("status") and p["status"] != params["status"]:
            return False
        if payment.get("type") and p["payment"].get("type") != payment["type"]:
            return False
        intent = payment.get("payment_intent")
        return not intent or p["payment"].get("payment_intent") == intent

    items = sb.store.newest_first("invoice_payment")
    return listing.paginate(items, params, "/v1/invoice_payments", keep)


def list_invoices(sb: Sandbox, params: Obj) -> Obj:
    wanted = {k: params[k] for k in ("customer", "status", "collection_method") if params.get(k)}

    def keep(inv: Obj) -> bool:
        # API 2026-10-28 keeps the subscription under parent.subscription_details.
        details = (inv.get("parent") or {}).get("subscription_details") or {}
        if params.get("subscription") and details.get("subscription") != params["subscription"]:
            return False
        return all(inv.get(k) == v for k, v in wanted.items())

    page = listing.paginate(sb.store.newest_first("invoice"), params, "/v1/invoices", keep)
    page["data"] = _include_payments(sb, page["data"], params, "data.")
    return page


def list_subscriptions(sb: Sandbox, params: Obj) -> Obj:
    status = params.get("status")

    def keep(sub: Obj) -> bool:
        if params.get("customer") and sub["customer"] != params["customer"]:
            return False
        # Stripe leaves canceled subscriptions out unless asked for them.
        if status in (None, ""):
            return sub["status"] != "canceled"
        return status == "all" or sub["status"] == status

    items = sb.store.newest_first("subscription")
    return listing.paginate(items, params, "/v1/subscriptions", keep)


def _type_matches(event_type: str, pattern: str) -> bool:
    # Stripe accepts one wildcard: "charge.*" or "charge.dispute.*".
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


def create_refund(sb: Sandbox, params: Obj) -> Obj:
    ch = ledger.find_charge(sb, params.get("charge"), params.get("payment_intent"))
    return ledger.refund(
        sb, ch, params.get("amount"), params.get("reason"),
        check_metadata(params.get("metadata"), "metadata"),
        reverse_transfer=str(params.get("reverse_transfer", "")).lower() == "true",
    )  # fmt: skip


def cancel_subscription(sb: Sandbox, params: Obj, id: str) -> Obj:
    sub = sb.store.require(id, "subscription")
    return subscriptions.cancel(sb, sub, params.get("cancellation_details"))


def retrieve_balance(sb: Sandbox, params: Obj) -> Obj:
    return ledger.balance(sb)


def create_product(sb: Sandbox, params: Obj) -> Obj:
    prod = billing.product(
        params["name"], params.get("description"), check_metadata(params.get("metadata"), "metadata")
    )
    sb.store.add(prod)
    sb.events.emit("product.created", prod)
    return prod


def create_price(sb: Sandbox, params: Obj) -> Obj:
    if ("product" in params) == ("product_data" in params):
        raise invalid("You must specify either `product` or `product_data`.", param="product")
    custom = params.get("custom_unit_amount") or {}
    custom_enabled = str(custom.get("enabled", "")).lower() == "true"
    if custom_enabled and params.get("recurring"):
        raise invalid("custom_unit_amount is only for one-time prices.", param="custom_unit_amount")
    if params.get("unit_amount") is None and not custom_enabled:
        raise invalid("You must specify `unit_amount`.", param="unit_amount")
    if "product" in params:
        product_id = sb.store.require(params["product"], "product", param="product")["id"]
    else:
        prod = sb.store.add(billing.product(params["product_data"]["name"]))
        sb.events.emit("product.created", prod)
        product_id = prod["id"]
    # A pay-what-you-want price: the sandbox's page has no amount field, so it charges the preset
    # (kept as unit_amount, where Stripe says null).
    amount = params.get("unit_amount") or custom.get("preset") or custom.get("minimum") or 0
    price = billing.price(
        product_id, params["currency"].lower(), int(amount),
        params.get("recurring"), metadata=check_metadata(params.get("metadata"), "metadata"),
    )  # fmt: skip
    if custom_enabled:
        price["custom_unit_amount"] = {
            key: int(custom[key]) if custom.get(key) is not None else None
            for key in ("maximum", "minimum", "preset")
        }
    price["nickname"] = params.get("nickname")
    price["lookup_key"] = params.get("lookup_key")
    sb.store.add(price)
    sb.events.emit("price.created", price)
    return price


def create_payment_link(sb: Sandbox, params: Obj) -> Obj:
    from sandbox.payment_links import create

    return create(sb, params)


def _crud(name: str, kind: str, cls: str, filters: tuple[str, ...] = ()) -> list[Route]:
    url = f"/v1/{name}"
    return [
        Route("GET", url, _lister(kind, url, filters), f"{cls}ListParams"),
        Route("GET", f"{url}/<id>", _retriever(kind), f"{cls}RetrieveParams"),
    ]


ROUTES = [
    *_crud("payment_intents", "payment_intent", "PaymentIntent", ("customer",)),
    *_crud("charges", "charge", "Charge", ("payment_intent", "customer", "transfer_group")),
    Route("GET", "/v1/mandates/<id>", _retriever("mandate"), "MandateRetrieveParams"),
    Route("POST", "/v1/refunds", create_refund, "RefundCreateParams"),
    *_crud("refunds", "refund", "Refund", ("charge", "payment_intent")),
    Route("GET", "/v1/balance", retrieve_balance, "BalanceRetrieveParams"),
    Route("GET", "/v1/balance_transactions", list_balance_transactions,
          "BalanceTransactionListParams"),
    Route("GET", "/v1/balance_transactions/<id>", _retriever("balance_transaction"),
          "BalanceTransactionRetrieveParams"),
    *_crud("payouts", "payout", "Payout", ("status", "destination")),
    *_crud("transfers", "transfer", "Transfer", ("destination", "transfer_group")),
    *_crud("disputes", "dispute", "Dispute", ("charge", "payment_intent")),
    *_crud("customers", "customer", "Customer", ("email",)),
    Route("GET", "/v1/subscriptions", list_subscriptions, "SubscriptionListParams"),
    Route("GET", "/v1/subscriptions/<id>", _retriever("subscription"),
          "SubscriptionRetrieveParams"),
    Route("DELETE", "/v1/subscriptions/<id>", cancel_subscription, "SubscriptionCancelParams"),
    Route("GET", "/v1/invoices", list_invoices, "InvoiceListParams"),
    Route("GET", "/v1/invoices/<id>", retrieve_invoice, "InvoiceRetrieveParams"),
    Route("GET", "/v1/invoice_payments", list_invoice_payments, "InvoicePaymentListParams"),
    Route("GET", "/v1/invoice_payments/<id>", _retriever("invoice_payment"),
          "InvoicePaymentRetrieveParams"),
    Route("GET", "/v1/events", list_events, "EventListParams"),
    Route("GET", "/v1/events/<id>", _retriever("event"), "EventRetrieveParams"),
    Route("POST", "/v1/products", create_product, "ProductCreateParams"),
    Route("GET", "/v1/products/<id>", _retriever("product"), "ProductRetrieveParams"),
    Route("POST", "/v1/prices", create_price, "PriceCreateParams"),
    Route("GET", "/v1/prices/<id>", _retriever("price"), "PriceRetrieveParams"),
    Route("POST", "/v1/payment_links", create_payment_link, "PaymentLinkCreateParams"),
    Route("GET", "/v1/payment_links/<id>", _retriever("payment_link"),
          "PaymentLinkRetrieveParams"),
]  # fmt: skip
