"""Checkout Session creation: Stripe's validation rules, then the session object."""

from __future__ import annotations

from typing import Any

from sandbox import billing_objects as billing
from sandbox import money
from sandbox.errors import invalid, missing_param
from sandbox.fixtures import template
from sandbox.ids import new_id, now
from sandbox.store import Store

Obj = dict[str, Any]
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 60 * 60
SUPPORTED_UI_MODES = ("hosted_page", "embedded_page")


def check_metadata(metadata: Any, param: str) -> dict[str, str]:
    if metadata in (None, ""):
        return {}
    if not isinstance(metadata, dict):
        raise invalid("Invalid object", param=param, code="parameter_invalid_object")
    if len(metadata) > 50:
        raise invalid("Metadata can have at most 50 keys.", param=param)
    for key, value in metadata.items():
        if len(key) > 40:
            raise invalid("Metadata keys can have at most 40 characters.", param=f"{param}[{key}]")
        if len(str(value)) > 500:
            raise invalid("Metadata values can have at most 500 characters.", param=f"{param}[{key}]")
    return {k: str(v) for k, v in metadata.items()}


def _line_items(store: Store, params: Obj, mode: str) -> list[Obj]:
    """Resolve each line item to a price object (creating price_data ones) and a quantity."""
    raw = params.get("line_items")
    if not raw:
        raise missing_param("line_items")
    resolved: list[Obj] = []
    for i, li in enumerate(raw):
        p = f"line_items[{i}]"
        if li.get("quantity") is None:
            raise missing_param(f"{p}[quantity]")
        quantity = int(li["quantity"])
        if quantity < 1:
            raise invalid("Quantity must be at least 1.", param=f"{p}[quantity]")
        if ("price" in li) == ("price_data" in li):
            raise invalid("You must specify either `price` or `price_data` for each line item.", param=p)
        if "price" in li:
            price_obj = store.require(li["price"], "price", param=f"{p}[price]")
            product_obj = store.get(price_obj["product"]) or {}
            resolved.append({"price": price_obj, "quantity": quantity,
                             "name": product_obj.get("name", "Item"), "new": []})  # fmt: skip
            continue
        resolved.append(_price_data(store, li["price_data"], quantity, f"{p}[price_data]"))
    currencies = {r["price"]["currency"] for r in resolved}
    if len(currencies) > 1:
        raise invalid(
            "Line items must all have the same currency; received " + ", ".join(sorted(currencies)),
            param="line_items",
        )
    recurring = [r for r in resolved if r["price"]["recurring"]]
    if mode == "payment" and recurring:
        raise invalid(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param="line_items",
        )
    if mode == "subscription" and not recurring:
        raise invalid(
            "You must specify at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    return resolved


def _price_data(store: Store, pd: Obj, quantity: int, p: str) -> Obj:
    currency = str(pd.get("currency") or "").lower()
    if not currency:
        raise missing_param(f"{p}[currency]")
    unit_amount = pd.get("unit_amount")
    if unit_amount is None and pd.get("unit_amount_decimal") is not None:
        unit_amount = int(float(pd["unit_amount_decimal"]))
    if unit_amount is None:
        raise missing_param(f"{p}[unit_amount]")
    unit_amount = int(unit_amount)
    if unit_amount < 0:
        raise invalid("This value must be greater than or equal to 0.", param=f"{p}[unit_amount]")
    if unit_amount > money.MAXIMUM_AMOUNT:
        raise invalid(
            f"Amount must be no more than {money.display(money.MAXIMUM_AMOUNT, currency)}",
            param=f"{p}[unit_amount]",
            code="amount_too_large",
        )
    if ("product" in pd) == ("product_data" in pd):
        raise invalid(
            "You must specify either `product` or `product_data` when creating a price.",
            param=f"{p}[product_data]",
        )
    new: list[Obj] = []
    if "product" in pd:
        product_obj = store.require(pd["product"], "product", param=f"{p}[product]")
    else:
        data = pd["product_data"]
        if not data.get("name"):
            raise missing_param(f"{p}[product_data][name]")
        product_obj = billing.product(
            data["name"], data.get("description"), check_metadata(data.get("metadata"), p)
        )
        new.append(product_obj)
    # Prices made from price_data are real objects but inactive, as in Stripe.
    price_obj = billing.price(product_obj["id"], currency, unit_amount, pd.get("recurring"), active=False)
    new.append(price_obj)
    return {"price": price_obj, "quantity": quantity, "name": product_obj["name"], "new": new}


def _check_modes(params: Obj, mode: str, ui_mode: str) -> None:
    if mode not in ("payment", "subscription"):
        raise invalid(
            f"Invalid mode: {mode}. The sandbox supports `payment` and `subscription`.",
            param="mode",
        )
    if ui_mode not in SUPPORTED_UI_MODES:
        raise invalid(f"The sandbox does not support ui_mode={ui_mode}.", param="ui_mode")
    if ui_mode == "hosted_page" and not params.get("success_url"):
        raise missing_param("success_url")
    if ui_mode == "embedded_page" and not params.get("return_url"):
        raise missing_param("return_url")
    if mode == "subscription" and "payment_intent_data" in params:
        raise invalid(
            "You can not pass `payment_intent_data` in `subscription` mode.",
            param="payment_intent_data",
        )
    if mode == "payment" and "subscription_data" in params:
        raise invalid("You can not pass `subscription_data` in `payment` mode.", param="subscription_data")
    # Since API 2024-11-20 subscription mode takes submit_type too; stripe-python 16.1's
    # SessionCreateParams.submit_type: "can only be specified on Checkout Sessions in `payment`
    # or `subscription` mode".
    if mode not in ("payment", "subscription") and params.get("submit_type"):
        raise invalid(
            "`submit_type` can only be specified on Checkout Sessions in `payment` or `subscription` mode.",
            param="submit_type",
        )
    suffix = (params.get("payment_intent_data") or {}).get("statement_descriptor_suffix")
    if suffix is not None:
        _check_descriptor_suffix(str(suffix))


# The sandbox account's statement descriptor prefix ("shortened descriptor" in the Dashboard).
DESCRIPTOR_PREFIX = "DONROUTER"


def _check_descriptor_suffix(suffix: str) -> None:
    """Stripe's rules (docs.stripe.com/get-started/account/statement-descriptors): Latin
    characters, at least one letter, none of < > \\ ' " *, and prefix + "* " + suffix at most
    22 characters."""
    param = "payment_intent_data[statement_descriptor_suffix]"
    if not any(ch.isascii() and ch.isalpha() for ch in suffix):
        raise invalid("The statement descriptor suffix must contain at least one letter.", param=param)
    if set("<>\\'\"*") & set(suffix) or not all(" " <= ch <= "~" for ch in suffix):
        raise invalid(
            "The statement descriptor suffix contains characters that are not allowed.", param=param
        )
    if len(DESCRIPTOR_PREFIX) + 2 + len(suffix) > 22:
        raise invalid(
            f"The statement descriptor suffix is too long: with your prefix {DESCRIPTOR_PREFIX!r} and "
            "'* ' the statement descriptor must be at most 22 characters.",
            param=param,
        )


def _expires_at(params: Obj, created: int) -> int:
    if params.get("expires_at") is None:
        return created + MAX_EXPIRY
    expires_at = int(params["expires_at"])
    # Exactly Stripe's rule, no slack: "anywhere from 30 minutes to 24 hours after Checkout
    # Session creation" (stripe-python's SessionCreateParams.expires_at). A client whose clock
    # runs behind Stripe's must leave its own margin.
    if expires_at < created + MIN_EXPIRY:
        raise invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            param="expires_at",
        )
    if expires_at > created + MAX_EXPIRY:
        raise invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


# The sandbox's stand-in for the Dashboard's payment method settings: cards everywhere and the
# bank debit of the currency's scheme. Checkout offers what the Dashboard enables and the
# currency and mode allow, less ``excluded_payment_method_types``, within
# ``allowed_payment_method_types`` when given
# (https://docs.stripe.com/changelog/endive/2026-09-30/remove-payment-method-types-checkout-sessions).
DASHBOARD_PAYMENT_METHODS = {
    "gbp": ("card", "bacs_debit"),
    "eur": ("card", "sepa_debit"),
    "usd": ("card", "us_bank_account"),
}


def dynamic_payment_method_types(params: Obj, currency: str) -> list[str]:
    if params.get("payment_method_types"):
        return list(params["payment_method_types"])
    excluded = set(params.get("excluded_payment_method_types") or ())
    allowed = params.get("allowed_payment_method_types")
    if allowed and excluded:
        # "mutually exclusive with payment_method_types, excluded_payment_method_types, ..."
        # (https://docs.stripe.com/changelog/dahlia/2026-07-29/allowed-payment-method-types-parameter)
        raise invalid(
            "You cannot pass both `allowed_payment_method_types` and `excluded_payment_method_types`.",
            param="allowed_payment_method_types",
        )
    types = [
        t for t in DASHBOARD_PAYMENT_METHODS.get(currency, ("card",))
        if t not in excluded and (not allowed or t in allowed)
    ]  # fmt: skip
    if not types:
        raise invalid(
            "No valid payment method types for this Checkout Session. Enable a payment method in the "
            "Dashboard or remove it from excluded_payment_method_types.",
            param="allowed_payment_method_types" if allowed else "excluded_payment_method_types",
        )
    return types


def create_session(store: Store, params: Obj, base_url: str) -> Obj:
    """Validate ``params`` as Stripe does and store the new session (and its prices)."""
    if not params.get("mode"):
        raise missing_param("mode")
    mode = params["mode"]
    ui_mode = params.get("ui_mode") or "hosted_page"
    _check_modes(params, mode, ui_mode)
    created = now()
    expires_at = _expires_at(params, created)
    items = _line_items(store, params, mode)
    currency = items[0]["price"]["currency"]
    total = sum(r["price"]["unit_amount"] * r["quantity"] for r in items)
    _check_total(total, currency)
    metadata = check_metadata(params.get("metadata"), "metadata")
    pi_data = dict(params.get("payment_intent_data") or {})
    sub_data = dict(params.get("subscription_data") or {})
    pi_data["metadata"] = check_metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")
    sub_data["metadata"] = check_metadata(sub_data.get("metadata"), "subscription_data[metadata]")
    if params.get("customer"):
        store.require(params["customer"], "customer", param="customer")
    if len(str(params.get("client_reference_id") or "")) > 200:
        raise invalid("client_reference_id can be at most 200 characters.", param="client_reference_id")

    session = _session_object(params, mode, ui_mode, created, expires_at, currency, total)
    session["metadata"] = metadata
    if ui_mode == "hosted_page":
        session["url"] = f"{base_url}/c/pay/{session['id']}"
    else:
        session["client_secret"] = f"{session['id']}_secret_{new_id('x')[2:]}"
    with store.lock:
        line_items = []
        for r in items:
            for obj in r["new"]:
                store.add(obj)
            line_items.append(billing.item(r["price"], r["quantity"], r["name"]))
        store.add(session)
        # Sessions the expiry sweeper must watch (sandbox.core.Sandbox.sweep).
        store.table("open_sessions")[session["id"]] = session["expires_at"]
        store.table("checkout")[session["id"]] = {
            "line_items": line_items,
            "payment_intent_data": pi_data,
            "subscription_data": sub_data,
            "return_url": params.get("return_url"),
        }
    return session


def _check_total(total: int, currency: str) -> None:
    minimum = money.minimum(currency)
    if total < minimum:
        raise invalid(
            "The Checkout Session's total amount due must add up to at least "
            f"{money.display(minimum, currency)} {currency}",
            param="line_items",
            code="amount_too_small",
        )
    if total > money.MAXIMUM_AMOUNT:
        raise invalid(
            "The Checkout Session's total amount due must be no more than "
            f"{money.display(money.MAXIMUM_AMOUNT, currency)} {currency}",
            param="line_items",
            code="amount_too_large",
        )


def _session_object(
    params: Obj, mode: str, ui_mode: str, created: int, expires_at: int, currency: str, total: int
) -> Obj:
    return template(
        "checkout.session",
        id=new_id("cs"),
        adaptive_pricing={"enabled": False},
        after_expiration=None,
        amount_subtotal=total,
        amount_total=total,
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id"),
        client_secret=None,
        collected_information=None,
        consent=None,
        consent_collection=None,
        created=created,
        currency=currency,
        currency_conversion=None,
        custom_text={"after_submit": None, "shipping_address": None, "submit": None,
                     "terms_of_service_acceptance": None},
        customer=params.get("customer"),
        customer_creation="if_required" if mode == "payment" else "always",
        customer_details=None,
        customer_email=params.get("customer_email"),
        expires_at=expires_at,
        invoice=None,
        invoice_creation=None,
        locale=params.get("locale"),
        managed_payments=None,
        mode=mode,
        payment_intent=None,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=dynamic_payment_method_types(params, currency),
        payment_status="unpaid",
        permissions=None,
        saved_payment_method_options=None,
        shipping_address_collection=None,
        shipping_cost=None,
        status="open",
        submit_type=params.get("submit_type"),
        subscription=None,
        success_url=params.get("success_url"),
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode=ui_mode,
        url=None,
        wallet_options=None,
    )  # fmt: skip
