"""Does an object look exactly like what live Stripe sends? A mechanical check.

For every object (a dict whose ``object`` names a Stripe type), wherever it sits in a
response body or an event:

* its keys equal the keys of the same type in Stripe's ``fixtures3.json`` (``resources``),
  minus keys stripe-python 16.1 (API 2026-10-28.endive) no longer declares for that class
  (a fixture older than the API version, e.g. ``invoice.subscription``, removed in
  2025-03-31), minus *includable* fields (``INCLUDABLE``), which must be present only when
  the request expanded them; fields Stripe sends only in some cases (``CONDITIONAL``, e.g. a
  failed refund's ``failure_reason``) may be present;
* every value matches the stripe-python resource class annotation: ``str``, ``int``,
  ``bool``, ``float``, ``Literal[...]`` enumerations, ``Optional``, ``List``, ``Dict``,
  nested ``StripeObject`` classes (whose keys must all be declared), ``ListObject[...]``
  and ``ExpandableField[...]``, which must be an id string unless the request expanded that
  path and the object itself when it did;
* an error body is ``{"error": {...}}`` with stripe-python's ``ErrorObject`` fields only
  (``type`` and ``message`` always);
* ``list`` objects have exactly ``object``, ``data``, ``has_more`` and ``url``;
* an event's ``data.object`` is checked as its own type; ``data.previous_attributes`` is
  free-form (Stripe sends only the changed keys), but names only keys ``data.object`` has.

A problem is reported as ``type.key at path: what is wrong``.
``sandbox/README.md`` ("Conformance") says how the suite drives it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

from stripe._error_object import ErrorObject
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

FIXTURES_PATH = Path(__file__).with_name("fixtures") / "fixtures3.json"

# Fields Stripe leaves out of responses and event payloads unless the request expands them
# ("includable"). fixtures3.json never carries them; stripe-python declares them.
INCLUDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {
        # stripe-python CheckoutSessionLineItemService: "When retrieving a Checkout Session,
        # there is an includable line_items property containing the first handful of those items."
        "line_items": "docs.stripe.com/api/checkout/sessions/object#checkout_session_object-line_items",
    },
    "payment_link": {
        # stripe/_payment_link.py: "there is an includable line_items property"
        "line_items": "stripe/_payment_link.py (PaymentLink.list_line_items)",
    },
    "invoice": {
        # stripe/_invoice_payment.py: "When retrieving an invoice, there is an includable
        # payments property containing the first handful of those items."
        "payments": "stripe/_invoice_payment.py (InvoicePayment.list)",
    },
    "charge": {
        # Changelog 2022-11-15 "The Charges object no longer auto-expands refunds by default"
        # (docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand); the
        # fixture still shows it.
        "refunds": "docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand",
    },
    "customer": {
        # The Customer object reference marks these "includable" (expand[]=sources, ...).
        "cash_balance": "docs.stripe.com/api/customers/object",
        "invoice_credit_balance": "docs.stripe.com/api/customers/object",
        "sources": "docs.stripe.com/api/customers/object",
        "subscriptions": "docs.stripe.com/api/customers/object",
        "tax": "docs.stripe.com/api/customers/object",
        "tax_ids": "docs.stripe.com/api/customers/object",
    },
}

# Fields Stripe sends only in some cases (optional in Stripe's API spec, so absent from the
# fixtures): they may be present, with the annotated type, and may be absent.
CONDITIONAL: dict[str, dict[str, str]] = {
    "charge": {
        # stripe/_charge.py: "only applicable if the charge was created using the `destination`
        # parameter" (destination charges, Connect).
        "transfer": "destination charges only",
    },
    "event": {
        # stripe/_event.py: "The connected account that originates the event": only events of a
        # connected account (a Connect appeal's charity payouts) carry it.
        "account": "events of a connected account only",
    },
    "refund": {
        # docs.stripe.com/api/refunds/object: "If the refund failed, ..." (absent otherwise,
        # as in the object's example).
        "failure_balance_transaction": "failed refunds only",
        "failure_reason": "failed refunds only",
        # "(Available on non-card refunds only)"; next_action/instructions_email for refunds
        # that need the customer's bank details.
        "description": "non-card refunds only",
        "instructions_email": "refunds awaiting the customer's bank details",
        "next_action": "refunds awaiting the customer's bank details",
    },
}

# Objects that carry one sub-hash named after their ``type`` (a sepa_debit PaymentMethod
# has ``sepa_debit``, not the fixture's ``card``): that key swaps with the fixture's.
TYPE_KEYED = frozenset({"payment_method"})

LIST_KEYS = frozenset({"object", "data", "has_more", "url"})


@cache
def fixtures() -> dict[str, Any]:
    return json.loads(FIXTURES_PATH.read_text(encoding="utf-8"))["resources"]


@cache
def fixture_example_ids() -> frozenset[str]:
    """Ids in Stripe's example objects (``ch_3MmlLrLkdIwHu7ix0snN0B15``...): an object the
    sandbox builds from a fixture must override every one of them with its own."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and _EXAMPLE_ID.match(value):
            found.add(value)

    walk(fixtures())
    return frozenset(found)


_EXAMPLE_ID = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9]{14,}$")


def example_ids_in(body: Any) -> list[str]:
    """Paths in ``body`` that still carry an id from Stripe's fixtures."""
    examples = fixture_example_ids()
    out: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}".lstrip("."))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif isinstance(value, str) and value in examples:
            out.append(f"{path}: {value}")

    walk(body, "")
    return out


@dataclass
class Problem:
    type: str
    key: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}.{self.key} at {self.path or '<root>'}: {self.message}"


@dataclass
class Checker:
    """Collects problems over many bodies; ``types_seen`` counts objects per type."""

    # Object types the sandbox may send without a fixture, each with the reason.
    no_fixture: dict[str, str] = field(default_factory=dict)
    # (type, key) pairs tolerated for now, each with the reason (see the test).
    allowances: dict[tuple[str, str], str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    types_seen: dict[str, int] = field(default_factory=dict)
    allowances_used: set[tuple[str, str]] = field(default_factory=set)

    def check_body(self, body: Any, expand: Iterable[str] = (), where: str = "") -> list[Problem]:
        """Check a whole response body or event payload; ``expand`` is the request's."""
        before = len(self.problems)
        if isinstance(body, dict) and set(body) == {"error"}:
            self._error(body["error"], _Loc(where + "error", "", frozenset()))
        else:
            self._value(body, Any, _Loc(where, "", _prefixes(expand)))
        return self.problems[before:]

    def _error(self, error: Any, loc: _Loc) -> None:
        """Stripe's error body: ``{"error": {...}}`` with stripe-python's ErrorObject fields."""
        mismatch = self._nested(error, ErrorObject, loc)
        if mismatch:
            self._problem("error", "error", loc, mismatch)
            return
        for key in ("type", "message"):
            if key not in error:
                self._problem("error", key, loc, "missing key")

    # -- objects --------------------------------------------------------------
    def _object(self, obj: dict[str, Any], loc: _Loc) -> None:
        kind = obj["object"]
        self.types_seen[kind] = self.types_seen.get(kind, 0) + 1
        if kind == "list":
            self._keys(kind, set(obj), set(LIST_KEYS), loc)
            if not isinstance(obj.get("data"), list):
                self._problem(kind, "data", loc, "is not an array")
                return
            for i, item in enumerate(obj["data"]):
                self._value(item, Any, loc.child(f"data[{i}]", "data"))
            return
        cls = stripe_class(kind)
        fixture = fixtures().get(kind)
        if fixture is None or cls is None:
            if kind not in self.no_fixture:
                self._problem(kind, "object", loc, "no fixture in fixtures3.json (or no stripe-python class)")
            return
        hints = class_hints(cls)
        expected = {k for k in fixture if k in hints}
        if kind in TYPE_KEYED and obj.get("type") in hints:
            expected = (expected - {fixture["type"]}) | {obj["type"]}
        for name in INCLUDABLE.get(kind, {}):
            if loc.child(name, name).xpath in loc.expanded:
                expected.add(name)
            else:
                expected.discard(name)
        conditional = set(CONDITIONAL.get(kind, {}))
        self._keys(kind, set(obj) - conditional, expected - conditional, loc)
        for key, value in obj.items():
            if key not in hints:
                continue  # reported by _keys
            sub = loc.child(key, key)
            if kind == "event" and key == "data":
                self._event_data(value, sub)
                continue
            self._value(value, hints[key], sub, owner=kind, key=key)

    def _event_data(self, data: Any, loc: _Loc) -> None:
        if not isinstance(data, dict) or set(data) - {"object", "previous_attributes"}:
            self._problem(
                "event", "data", loc, f"unexpected shape {sorted(data) if isinstance(data, dict) else data!r}"
            )
            return
        inner = data.get("object")
        if not (isinstance(inner, dict) and isinstance(inner.get("object"), str)):
            self._problem("event", "data.object", loc, "is not a Stripe object")
            return
        # An event's object is never expanded (webhooks send ids, not objects).
        self._object(inner, _Loc(loc.where + ".object", "", frozenset()))
        prev = data.get("previous_attributes")
        if prev is not None and not isinstance(prev, dict):
            self._problem("event", "data.previous_attributes", loc, "is not an object")
        elif prev:
            # Free-form values, but only keys the object has (the attributes that changed).
            for key in sorted(set(prev) - set(inner)):
                self._problem("event", f"data.previous_attributes.{key}", loc, "not a key of data.object")

    def _keys(self, kind: str, present: set[str], expected: set[str], loc: _Loc) -> None:
        for key in sorted(present - expected):
            if (kind, key) in self.allowances:
                self.allowances_used.add((kind, key))
                continue
            reason = "not a field of this object in fixtures3.json"
            if key in INCLUDABLE.get(kind, {}):
                reason = "includable: present only when the request expands it"
            elif kind in TYPE_KEYED and key in fixtures()[kind]:
                reason = "only the sub-hash named by `type` is sent"
            elif key in fixtures().get(kind, {}):
                reason = "in the fixture, but stripe-python 16.1 no longer declares it at this API version"
            self._problem(kind, key, loc, f"unexpected key ({reason})")
        for key in sorted(expected - present):
            self._problem(kind, key, loc, "missing key")

    # -- values ---------------------------------------------------------------
    def _value(self, value: Any, tp: Any, loc: _Loc, owner: str = "", key: str = "") -> None:
        if tp is Any:
            if isinstance(value, dict) and isinstance(value.get("object"), str):
                self._object(value, loc)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self._value(item, Any, loc.child(f"[{i}]", None))
            elif isinstance(value, dict):
                for k, v in value.items():
                    self._value(v, Any, loc.child(k, k))
            return
        error = self._mismatch(value, tp, loc, owner, key)
        if error:
            self._problem(owner or "?", key or "?", loc, error)

    def _mismatch(self, value: Any, tp: Any, loc: _Loc, owner: str, key: str) -> str | None:
        """None when ``value`` fits ``tp`` (problems inside nested objects are recorded
        as their own); otherwise what is wrong."""
        if tp is Any:
            self._value(value, Any, loc)
            return None
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (Union, types.UnionType):
            if value is None:
                return None if type(None) in args else "is null"
            arms = [a for a in args if a is not type(None)]
            targets = _expandable_targets(arms)
            if targets:
                expanded = loc.xpath in loc.expanded
                if isinstance(value, str):
                    return "is an id but the request expanded it" if expanded else None
                if not expanded:
                    return "is an object but the request did not expand it (expandable: an id string)"
                # ExpandableField[Union[Charge, Refund, ...]]: the class its `object` names.
                kind = value.get("object") if isinstance(value, dict) else None
                match = [t for t in targets if kind == t.OBJECT_NAME] or targets[:1]
                return self._mismatch(value, match[0], loc, owner, key)
            if len(arms) == 1:  # Optional[X]
                return self._mismatch(value, arms[0], loc, owner, key)
            reasons = []
            for arm in arms:  # the first arm that fits wins
                if _shallow_fits(value, arm):
                    return self._mismatch(value, arm, loc, owner, key)
                reasons.append(_name(arm))
            return f"{_short(value)} is none of {', '.join(reasons)}"
        if value is None:
            return f"is null, annotated {_name(tp)} (not Optional)"
        if origin is Literal:
            return None if value in args else f"{value!r} is not one of {list(args)}"
        if origin is list:
            if not isinstance(value, list):
                return f"{_short(value)} is not a list"
            for i, item in enumerate(value):
                self._value(item, args[0] if args else Any, loc.child(f"[{i}]", None), owner, key)
            return None
        if origin is dict:
            if not isinstance(value, dict):
                return f"{_short(value)} is not an object"
            for k, v in value.items():
                self._value(v, args[1] if len(args) > 1 else Any, loc.child(k, None), owner, key)
            return None
        if tp is ListObject or origin is ListObject:
            if not (isinstance(value, dict) and value.get("object") == "list"):
                return f"{_short(value)} is not a list object"
            self._object(value, loc)
            wanted = getattr(args[0], "OBJECT_NAME", None) if args else None
            for item in value.get("data") or []:
                if wanted and isinstance(item, dict) and item.get("object") != wanted:
                    return f"holds a {item.get('object')!r}, not {wanted!r} objects"
            return None
        if tp is UntypedStripeObject or origin is UntypedStripeObject:  # metadata, free-form hashes
            if not isinstance(value, dict):
                return f"{_short(value)} is not an object"
            for k, v in value.items():
                self._value(v, args[0] if args else Any, loc.child(k, None), owner, key)
            return None
        if inspect.isclass(tp) and issubclass(tp, StripeObject):
            return self._nested(value, tp, loc)
        if tp is Decimal:  # stripe-python's "decimal_string" fields: a string on the wire
            return None if _is_decimal_string(value) else f"{_short(value)} is not a decimal string"
        if tp is bool:
            return None if isinstance(value, bool) else f"{_short(value)} is not a boolean"
        if tp is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return None if ok else f"{_short(value)} is not an integer"
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return None if ok else f"{_short(value)} is not a number"
        if tp is str:
            return None if isinstance(value, str) else f"{_short(value)} is not a string"
        return f"unsupported annotation {_name(tp)}"

    def _nested(self, value: Any, cls: type, loc: _Loc) -> str | None:
        if not isinstance(value, dict):
            return f"{_short(value)} is not an object ({cls.__qualname__})"
        if isinstance(value.get("object"), str):
            wanted = getattr(cls, "OBJECT_NAME", None)
            if wanted and value["object"] != wanted:
                return f"is a {value['object']!r} object, annotated {cls.__qualname__} ({wanted!r})"
            self._object(value, loc)
            return None
        hints = class_hints(cls)
        label = cls.__qualname__  # e.g. Charge.Outcome
        for key, item in value.items():
            if key not in hints:
                self._problem(label, key, loc, f"unexpected key (not a field of {cls.__qualname__})")
                continue
            self._value(item, hints[key], loc.child(key, key), label, key)
        return None

    def _problem(self, kind: str, key: str, loc: _Loc, message: str) -> None:
        self.problems.append(Problem(kind, key, loc.where, message))


@dataclass(frozen=True)
class _Loc:
    where: str  # for people: checkout.session[0].line_items.data[0]
    xpath: str  # for expand: line_items.data.price
    expanded: frozenset[str]

    def child(self, label: str, step: str | None) -> _Loc:
        where = f"{self.where}{label}" if label.startswith("[") else f"{self.where}.{label}".lstrip(".")
        if step is None:
            return _Loc(where, self.xpath + ".?", self.expanded)
        xpath = f"{self.xpath}.{step}" if self.xpath else step
        return _Loc(where, xpath, self.expanded)


def _prefixes(paths: Iterable[str]) -> frozenset[str]:
    out = set()
    for p in paths or ():
        parts = str(p).split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return frozenset(out)


def _is_decimal_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        Decimal(value)
    except ArithmeticError:
        return False
    return True


def _expandable_targets(arms: list[Any]) -> list[Any]:
    """``ExpandableField[X]`` is ``Union[str, X]`` with X one or more Stripe resource
    classes (typing flattens ``Union[str, Union[Charge, Refund]]``); [] for other unions."""
    if str not in arms or len(arms) < 2:
        return []
    others = [a for a in arms if a is not str]
    if all(
        inspect.isclass(a) and issubclass(a, StripeObject) and getattr(a, "OBJECT_NAME", None) for a in others
    ):
        return others
    return []


def _shallow_fits(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is list:
        return isinstance(value, list)
    if origin is dict or tp is ListObject or origin is ListObject:
        return isinstance(value, dict)
    if (
        tp is UntypedStripeObject
        or origin is UntypedStripeObject
        or (inspect.isclass(tp) and issubclass(tp, StripeObject))
    ):
        return isinstance(value, dict)
    if tp is Decimal:
        return _is_decimal_string(value)
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return tp is Any


def _name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or str(tp).replace("typing.", "")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- stripe-python classes and their annotations ------------------------------------------


@cache
def stripe_class(kind: str) -> type | None:
    entry = OBJECT_CLASSES.get(kind)
    if entry is None:
        return None
    module, name = entry
    return getattr(importlib.import_module(module), name)


@cache
def _module_names(module_name: str) -> dict[str, Any]:
    """The module's globals plus the names it imports only for type checking."""
    module = importlib.import_module(module_name)
    names = dict(vars(module))
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stripe"):
            for alias in node.names:
                if alias.asname or alias.name not in names:
                    try:
                        target = importlib.import_module(node.module)
                        names[alias.asname or alias.name] = getattr(target, alias.name)
                    except (ImportError, AttributeError):
                        pass
    return names


@cache
def class_hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of the class's public fields (nested classes resolved)."""
    globalns = _module_names(cls.__module__)
    localns: dict[str, Any] = {}
    # Nested classes may name their siblings and their enclosing classes' inner classes.
    outer_names = cls.__qualname__.split(".")
    owner: Any = importlib.import_module(cls.__module__)
    for part in outer_names:
        owner = getattr(owner, part)
        localns.update(vars(owner))
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, ann in getattr(klass, "__annotations__", {}).items():
            if name.startswith("_") or name == "OBJECT_NAME":
                continue
            if isinstance(ann, str):
                ann = typing.ForwardRef(ann)
            hints[name] = typing._eval_type(ann, globalns, localns)  # type: ignore[attr-defined]
    return hints
