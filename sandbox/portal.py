"""Stripe's Customer Portal, stood in: portal sessions, the hosted page for the two flows the
service asks for (update the payment method, cancel the subscription), and subscription updates.

Live behaviour modelled (https://docs.stripe.com/customer-management/portal-deep-links):
``flow_data.type=payment_method_update`` lets the customer add a card, which Stripe attaches to
the customer (``payment_method.attached``) and makes the default for their subscriptions
(``customer.updated``, ``customer.subscription.updated``); ``subscription_cancel`` asks for a
reason and cancels (immediately, the portal's default mode: ``customer.subscription.deleted``
carrying ``cancellation_details.feedback``). ``after_completion.type=redirect`` sends the
customer to ``return_url`` once done; a portal session's URL is short-lived and single-customer.
"""

from __future__ import annotations

from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox import subscriptions
from sandbox.api import Route
from sandbox.core import Sandbox
from sandbox.errors import invalid
from sandbox.fixtures import template
from sandbox.html import page
from sandbox.ids import new_id, now, random_token

Obj = dict[str, Any]
PORTAL_PATH = "/p/session/"
# Stripe's cancellation feedback values (Subscription.cancellation_details.feedback).
FEEDBACK = {
    "too_expensive": "It's too expensive",
    "unused": "I no longer want to give",
    "customer_service": "Customer service",
    "other": "Other reason",
}


def create_session(sb: Sandbox, params: Obj) -> Obj:
    customer = sb.store.require(params["customer"], "customer", param="customer")
    flow_data = params.get("flow_data") or None
    flow = None
    if flow_data:
        kind = flow_data.get("type")
        if kind not in ("payment_method_update", "subscription_cancel"):
            raise invalid(f"The sandbox's portal does not model flow type {kind!r}.", param="flow_data[type]")
        after = flow_data.get("after_completion") or {"type": "portal_homepage"}
        cancel = None
        if kind == "subscription_cancel":
            sub_id = (flow_data.get("subscription_cancel") or {}).get("subscription")
            sub = sb.store.require(
                sub_id or "", "subscription", param="flow_data[subscription_cancel][subscription]"
            )
            if sub["customer"] != customer["id"]:
                raise invalid("The subscription does not belong to this customer.", param="flow_data")
            if sub["status"] == "canceled":
                raise invalid("This subscription is already canceled.", param="flow_data")
            cancel = {"retention": None, "subscription": sub["id"]}
        flow = {
            "after_completion": {
                "hosted_confirmation": (after.get("hosted_confirmation") or {"custom_message": None})
                if after.get("type") == "hosted_confirmation" else None,
                "redirect": {"return_url": after["redirect"]["return_url"]} if after.get("type") == "redirect" else None,
                "type": after.get("type", "portal_homepage"),
            },
            "subscription_cancel": cancel,
            "subscription_update": None,
            "subscription_update_confirm": None,
            "type": kind,
        }  # fmt: skip
    session = template(
        "billing_portal.session",
        id=new_id("bps"),
        configuration=new_id("bpc"),
        created=now(),
        customer=customer["id"],
        customer_account=None,
        flow=flow,
        locale=params.get("locale"),
        on_behalf_of=params.get("on_behalf_of"),
        return_url=params.get("return_url"),
    )
    session["url"] = f"{sb.base_url}{PORTAL_PATH}{session['id']}_{random_token(16)}"
    sb.store.add(session)
    sb.store.table("portal_secret")[session["url"].rpartition("/")[2]] = session["id"]
    return session


def update_subscription(sb: Sandbox, params: Obj, id: str) -> Obj:
    """POST /v1/subscriptions/:id for one item's price (the amount) and metadata."""
    with sb.store.lock:
        sub = sb.store.require(id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                param="subscription",
            )
        previous: Obj = {}
        for change in params.get("items") or []:
            item = next((i for i in sub["items"]["data"] if i["id"] == change.get("id")), None)
            if item is None:
                raise invalid(f"No such subscription item: '{change.get('id')}'", param="items")
            data = change.get("price_data")
            if data is None:
                raise invalid("The sandbox models amount changes through items[][price_data].", param="items")
            product = sb.store.require(data["product"], "product", param="items[0][price_data][product]")
            from sandbox import billing_objects as billing

            price = billing.price(product["id"], data["currency"].lower(), int(data["unit_amount"]),
                                  dict(data["recurring"]))  # fmt: skip
            sb.store.add(price)
            sb.events.emit("price.created", price)
            previous.setdefault("items", {"object": "list", "data": [dict(i) for i in sub["items"]["data"]]})
            item["price"] = price
        if params.get("metadata"):
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(params["metadata"])
        if previous:
            sb.events.emit("customer.subscription.updated", sub, previous)
        return sub


def handle(sb: Sandbox, request: Request) -> Response:
    secret = request.path[len(PORTAL_PATH) :].strip("/")
    with sb.store.lock:
        session_id = sb.store.table("portal_secret").get(secret)
        session = sb.store.get(session_id or "")
        if session is None:
            return _html(page("Link not valid", _card("This portal link is not valid",
                         "Go back to the site you came from and ask for a new one.")), 404)  # fmt: skip
        if sb.store.table("portal_used").get(session["id"]):
            return _html(page("Link used", _card("This portal link has been used",
                         "Go back to the site you came from and start again.")), 410)  # fmt: skip
        if request.method == "POST":
            return _submit(sb, session, request)
        return _html(page("Manage your subscription", _form(sb, session)))


def _form(sb: Sandbox, session: Obj, error: str | None = None) -> str:
    flow = (session.get("flow") or {}).get("type")
    err = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    if flow == "payment_method_update":
        return (
            f"<section class=card><h1>Update your payment method</h1>{err}"
            "<form method=post><label for=card>Card number</label>"
            "<input type=text id=card name=card_number inputmode=numeric autocomplete=cc-number "
            'value="4242 4242 4242 4242">'
            "<button type=submit name=action value=update>Update</button>"
            "<button class=secondary type=submit name=action value=back>Go back</button></form></section>"
        )
    if flow == "subscription_cancel":
        sub = sb.store.get(session["flow"]["subscription_cancel"]["subscription"]) or {}
        item = (sub.get("items") or {}).get("data", [{}])[0]
        price = item.get("price") or {}
        amount = f"{(price.get('unit_amount') or 0) / 100:.2f} {str(price.get('currency', '')).upper()}"
        choices = "".join(
            f'<label class=choice><input type=radio name=feedback value="{k}"> {escape(v)}</label>'
            for k, v in FEEDBACK.items()
        )
        return (
            f"<section class=card><h1>Cancel your subscription</h1>{err}"
            f"<p>{escape(amount)} per month. It stops now; you will not be charged again.</p>"
            f"<form method=post><fieldset><legend>Why are you cancelling? (optional)</legend>{choices}</fieldset>"
            "<label for=comment>Anything else? (optional)</label><input type=text id=comment name=comment>"
            "<button type=submit name=action value=cancel>Cancel subscription</button>"
            "<button class=secondary type=submit name=action value=back>Go back</button></form></section>"
        )
    return _card("Customer portal", "This stand-in portal models the update-card and cancel flows only.")


def _submit(sb: Sandbox, session: Obj, request: Request) -> Response:
    form = request.form
    flow = session.get("flow") or {}
    back = session.get("return_url") or "/"
    if form.get("action") == "back":
        return _redirect(back)
    if flow.get("type") == "payment_method_update":
        digits = "".join(c for c in form.get("card_number", "") if c.isdigit())
        if digits != "4242424242424242":
            return _html(
                page("Update", _form(sb, session, "Your card was declined. Use 4242 4242 4242 4242.")), 402
            )
        _attach_card(sb, session["customer"])
    elif flow.get("type") == "subscription_cancel":
        sub = sb.store.require(flow["subscription_cancel"]["subscription"], "subscription")
        feedback = form.get("feedback") if form.get("feedback") in FEEDBACK else None
        comment = (form.get("comment") or "").strip()[:500] or None
        subscriptions.cancel(sb, sub, {"feedback": feedback, "comment": comment})
    else:
        return _redirect(back)
    sb.store.table("portal_used")[session["id"]] = True
    sb.save()
    after = flow.get("after_completion") or {}
    if after.get("type") == "redirect":
        return _redirect(after["redirect"]["return_url"])
    return _html(page("Done", _card("Done", "Your changes are saved.")))


def _attach_card(sb: Sandbox, customer_id: str) -> None:
    card = template("payment_method")["card"]
    card.update(brand="visa", display_brand="visa", last4="4242", exp_month=12, exp_year=2034,
                fingerprint=random_token(16), wallet=None, generated_from=None, country="GB")  # fmt: skip
    pm = template(
        "payment_method", id=new_id("pm"), created=now(), customer=customer_id, customer_account=None,
        metadata={}, allow_redisplay="unspecified", card=card, type="card",
        billing_details={"address": {"city": None, "country": None, "line1": None, "line2": None,
                                     "postal_code": None, "state": None},
                         "email": None, "name": None, "phone": None, "tax_id": None},
    )  # fmt: skip
    sb.store.add(pm)
    sb.events.emit("payment_method.attached", pm)
    customer = sb.store.objects[customer_id]
    settings = customer.get("invoice_settings") or {}
    previous = {"invoice_settings": dict(settings)}
    customer["invoice_settings"] = {**settings, "default_payment_method": pm["id"]}
    sb.events.emit("customer.updated", customer, previous)
    for sub in sb.store.newest_first("subscription"):
        if sub["customer"] == customer_id and sub["status"] not in ("canceled", "incomplete_expired"):
            sub_previous = {"default_payment_method": sub.get("default_payment_method")}
            sub["default_payment_method"] = pm["id"]
            sb.events.emit("customer.subscription.updated", sub, sub_previous)


def _card(title: str, text: str) -> str:
    return f"<section class=card><h1>{escape(title)}</h1><p>{escape(text)}</p></section>"


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/html")


def _redirect(url: str) -> Response:
    return Response("", status=303, headers={"Location": url})


ROUTES = [
    Route("POST", "/v1/billing_portal/sessions", create_session, "billing_portal.SessionCreateParams"),
    Route("POST", "/v1/subscriptions/<id>", update_subscription, "SubscriptionModifyParams"),
]
