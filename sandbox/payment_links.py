"""Payment links (the surge-mode fallback): a reusable link whose visits open sessions."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from sandbox.checkout import create_session
from sandbox.core import Sandbox
from sandbox.errors import invalid, missing_param
from sandbox.fixtures import template
from sandbox.ids import new_id, random_token

Obj = dict[str, Any]


def create(sb: Sandbox, params: Obj) -> Obj:
    items = params.get("line_items")
    if not items:
        raise missing_param("line_items")
    currencies = set()
    for i, li in enumerate(items):
        price = sb.store.require(li.get("price", ""), "price", param=f"line_items[{i}][price]")
        currencies.add(price["currency"])
    if len(currencies) > 1:
        raise invalid("All prices on a payment link must use the same currency.", param="line_items")
    after = params.get("after_completion") or {"type": "hosted_confirmation"}
    pi_data = params.get("payment_intent_data") or {}
    transfer = params.get("transfer_data") or None
    if transfer and not transfer.get("destination"):
        raise missing_param("transfer_data[destination]")
    link = template(
        "payment_link",
        id=new_id("plink"),
        after_completion={
            "type": after.get("type", "hosted_confirmation"),
            "hosted_confirmation": after.get("hosted_confirmation") or {"custom_message": None},
            "redirect": after.get("redirect"),
        },
        currency=currencies.pop(),
        custom_text={"after_submit": None, "shipping_address": None, "submit": None,
                     "terms_of_service_acceptance": None},
        managed_payments=None,
        metadata=dict(params.get("metadata") or {}),
        on_behalf_of=params.get("on_behalf_of"),
        payment_intent_data={"capture_method": None, "description": pi_data.get("description"),
                             "metadata": pi_data.get("metadata") or {}, "setup_future_usage": None,
                             "statement_descriptor": pi_data.get("statement_descriptor"),
                             "statement_descriptor_suffix": pi_data.get("statement_descriptor_suffix"),
                             "transfer_group": pi_data.get("transfer_group")},
        payment_method_options=None,
        restrictions=None,
        shipping_address_collection=None,
        subscription_data=None,
        # The destination stays an id, as Stripe returns it unless expanded.
        transfer_data=(
            {"amount": transfer.get("amount"), "destination": transfer["destination"]} if transfer else None
        ),
        url=f"{sb.base_url}/c/link/test_{random_token(14)}",
    )  # fmt: skip
    sb.store.table("payment_link_items")[link["id"]] = [
        {"price": li["price"], "quantity": int(li.get("quantity", 1))} for li in items
    ]
    sb.store.add(link)
    sb.events.emit("payment_link.created", link)
    return link


def open_link(sb: Sandbox, token: str, client_reference_id: str | None = None) -> Response:
    """A visit to a payment link's URL: a new Checkout Session, then its hosted page.

    As on Stripe, ``?client_reference_id=`` on the URL is copied onto the session.
    """
    if client_reference_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", client_reference_id):
        return Response("client_reference_id is not valid.", status=400, mimetype="text/plain")
    with sb.store.lock:
        link = next(
            (pl for pl in sb.store.newest_first("payment_link") if pl["url"].endswith("/" + token)),
            None,
        )
        if link is None or not link["active"]:
            return Response("This payment link is not active.", status=404, mimetype="text/plain")
        items = sb.store.table("payment_link_items")[link["id"]]
        recurring = any(sb.store.objects[i["price"]]["recurring"] for i in items)
        after = link["after_completion"]
        success_url = (after.get("redirect") or {}).get("url") or f"{sb.base_url}/"
        params: Obj = {
            "mode": "subscription" if recurring else "payment",
            "success_url": success_url,
            "line_items": [dict(i) for i in items],
            "metadata": dict(link["metadata"]),
        }
        if client_reference_id:
            params["client_reference_id"] = client_reference_id
        if not recurring:
            # What the link says about the payment goes onto each session's payment intent, routing
            # to a connected account included (a destination charge, as with a session's own params).
            link_pi = link["payment_intent_data"]
            pi_params: Obj = {"metadata": dict(link_pi["metadata"] or {})}
            for key in (
                "description",
                "statement_descriptor",
                "statement_descriptor_suffix",
                "transfer_group",
            ):
                if link_pi.get(key):
                    pi_params[key] = link_pi[key]
            if link.get("on_behalf_of"):
                pi_params["on_behalf_of"] = link["on_behalf_of"]
            if link.get("transfer_data"):
                pi_params["transfer_data"] = {k: v for k, v in link["transfer_data"].items() if v is not None}
            params["payment_intent_data"] = pi_params
        session = create_session(sb.store, params, sb.base_url)
        session["payment_link"] = link["id"]
        sb.save()
    return Response("", status=303, headers={"Location": session["url"]})
