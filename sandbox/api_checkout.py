"""Checkout Session endpoints."""

from __future__ import annotations

from typing import Any

from sandbox import checkout, listing, payments
from sandbox.api import Route
from sandbox.core import Sandbox

Obj = dict[str, Any]
SESSION_PARAMS = "checkout.Session"


def _session(sb: Sandbox, session_id: str, param: str = "session") -> Obj:
    session = sb.store.require(session_id, "checkout.session", param=param)
    payments.expire_due(sb, session)
    return session


def _with_line_items(sb: Sandbox, session: Obj, params: Obj) -> Obj:
    """``expand[]=line_items`` includes a field that is otherwise absent."""
    expand = params.get("expand") or []
    if "line_items" not in expand:
        return session
    params["expand"] = [e for e in expand if e != "line_items"]
    items = sb.store.table("checkout").get(session["id"], {}).get("line_items", [])
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return {**session, "line_items": listing.paginate(items, {"limit": 100}, url)}


def create(sb: Sandbox, params: Obj) -> Obj:
    session = checkout.create_session(sb.store, params, sb.base_url)
    return _with_line_items(sb, session, params)


def retrieve(sb: Sandbox, params: Obj, id: str) -> Obj:
    return _with_line_items(sb, _session(sb, id), params)


def list_(sb: Sandbox, params: Obj) -> Obj:
    email = (params.get("customer_details") or {}).get("email")
    filters = {k: params.get(k) for k in ("payment_intent", "subscription", "status",
                                          "customer", "payment_link") if params.get(k)}  # fmt: skip

    def keep(s: Obj) -> bool:
        payments.expire_due(sb, s)
        if any(s.get(k) != v for k, v in filters.items()):
            return False
        return not email or (s.get("customer_details") or {}).get("email") == email

    return listing.paginate(sb.store.newest_first("checkout.session"), params, "/v1/checkout/sessions", keep)


def expire(sb: Sandbox, params: Obj, id: str) -> Obj:
    return payments.expire(sb, _session(sb, id))


def line_items(sb: Sandbox, params: Obj, id: str) -> Obj:
    session = _session(sb, id)
    items = sb.store.table("checkout").get(session["id"], {}).get("line_items", [])
    return listing.paginate(items, params, f"/v1/checkout/sessions/{id}/line_items")


ROUTES = [
    Route("POST", "/v1/checkout/sessions", create, f"{SESSION_PARAMS}CreateParams"),
    Route("GET", "/v1/checkout/sessions", list_, f"{SESSION_PARAMS}ListParams"),
    Route("GET", "/v1/checkout/sessions/<id>", retrieve, f"{SESSION_PARAMS}RetrieveParams"),
    Route("POST", "/v1/checkout/sessions/<id>/expire", expire, f"{SESSION_PARAMS}ExpireParams"),
    Route("GET", "/v1/checkout/sessions/<id>/line_items", line_items, f"{SESSION_PARAMS}LineItemListParams"),
]
