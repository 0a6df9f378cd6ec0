"""List objects with cursor pagination and ``created`` filters, and ``expand``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.errors import invalid
from sandbox.store import Store

Obj = dict[str, Any]


def _int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer") from None


def created_matches(obj: Obj, created: Any, field: str = "created") -> bool:
    """``created`` is an exact timestamp or a dict of gt/gte/lt/lte bounds."""
    if created is None:
        return True
    value = obj.get(field) or 0
    if not isinstance(created, dict):
        return value == _int(created, field)
    checks = {
        "gt": lambda b: value > b,
        "gte": lambda b: value >= b,
        "lt": lambda b: value < b,
        "lte": lambda b: value <= b,
    }
    for op, bound in created.items():
        if op not in checks:
            raise invalid(f"Received unknown parameter: {field}[{op}]", param=f"{field}[{op}]")
        if not checks[op](_int(bound, f"{field}[{op}]")):
            return False
    return True


def paginate(
    objects: Iterable[Obj],
    params: dict[str, Any],
    url: str,
    predicate: Callable[[Obj], bool] | None = None,
) -> Obj:
    """A Stripe list object over ``objects`` (already newest first)."""
    limit = _int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise invalid(
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    items = [
        o
        for o in objects
        if created_matches(o, params.get("created")) and (predicate is None or predicate(o))
    ]
    ids = [o["id"] for o in items]
    cursor = after or before
    if cursor and cursor not in ids:
        # Stripe answers 404 for a cursor that names no object of this kind.
        param = "starting_after" if after else "ending_before"
        raise invalid(f"No such object: '{cursor}'", param=param, code="resource_missing")
    if after:
        rest = items[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        rest = items[: ids.index(before)]
        page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def charge_refunds(store: Store, ch: Obj) -> Obj:
    """``charge.refunds``: includable since API 2022-11-15, built only when expanded."""
    refunds = [r for r in store.newest_first("refund") if r.get("charge") == ch["id"]]
    return paginate(refunds, {"limit": 10}, f"/v1/charges/{ch['id']}/refunds")


# Includable fields (absent unless ``expand[]`` names them), by (object type, field).
INCLUDABLE: dict[tuple[str, str], Callable[[Store, Obj], Obj]] = {
    ("charge", "refunds"): charge_refunds,
}


def expand(store: Store, obj: Obj, paths: Iterable[str]) -> Obj:
    """A copy of ``obj`` with each dotted path's ids replaced by their objects."""
    paths = list(paths or ())
    if not paths:
        return obj
    result = copy.deepcopy(obj)
    for path in paths:
        if path.count(".") > 3:
            raise invalid(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand_path(store, result, path.split("."), path)
    return result


def _expand_path(store: Store, node: Any, parts: list[str], full: str) -> None:
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict) and node.get("object") == "list" and head == "data":
        for item in node["data"]:
            _expand_path(store, item, rest, full)
        return
    include = INCLUDABLE.get((node.get("object"), head)) if isinstance(node, dict) else None
    if include is not None and head not in node:
        node[head] = copy.deepcopy(include(store, node))
    if not isinstance(node, dict) or head not in node:
        raise invalid(f"This property cannot be expanded ({full}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        target = store.get(value)
        if target is None:
            raise invalid(f"This property cannot be expanded ({full}).", param="expand")
        value = copy.deepcopy(target)
        node[head] = value
    elif isinstance(value, list):
        for item in value:
            _expand_path(store, item, rest, full)
        return
    _expand_path(store, value, rest, full)
