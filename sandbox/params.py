"""Stripe wire decoding and request-parameter validation.

Every request the sandbox receives is checked against the TypedDict param
classes that the installed stripe-python ships in ``stripe.params`` (loaded by
introspection, never copied by hand), so the sandbox rejects what Stripe would
reject, with Stripe's error codes, messages and bracket param paths.

Conventions worth knowing:

* Enums are closed. stripe-python 16 annotates enums as ``Literal[...] | str``
  so that new API values don't break type checkers; the API itself validates
  the enum, so the trailing ``str`` is ignored whenever real literals exist.
* ``Literal[""]`` in a union means "an empty string unsets this field"; any
  other empty string is rejected with ``parameter_invalid_empty``, as Stripe
  does. Metadata values may always be "" (it unsets that key).
* Decimal fields come back as validated strings (e.g. ``"1250.5"``), the way
  Stripe echoes ``*_decimal`` fields, so results stay JSON-serialisable.
* ``decode_form`` turns contiguous ``0..n-1`` index keys into lists; a
  ``Dict`` field given a list (``metadata[0]=a``) is turned back into a dict.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import importlib
import math
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import typing_extensions
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject

__all__ = ["ParamError", "decode_form", "params_class", "validate", "REQUEST_OPTION_KEYS"]

# Keys that stripe-python treats as request options (API key, idempotency key,
# Stripe-Account...). Every top-level *Params class inherits them, but they
# travel as headers, never as form params.
REQUEST_OPTION_KEYS: frozenset[str] = frozenset(RequestOptions.__annotations__)

# Stripe's documented metadata limits.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500

# Error-reporting priority: Stripe reports unknown params before missing ones,
# and both before per-value problems.
_PRIORITY = {"parameter_unknown": 0, "parameter_missing": 1}


class ParamError(Exception):
    """A Stripe ``invalid_request_error`` about one request parameter.

    ``code`` is one of: parameter_unknown, parameter_missing,
    parameter_invalid_integer, parameter_invalid_empty, parameter_invalid
    (the catch-all for bad booleans, enums, decimals, shapes, metadata limits
    and malformed form keys; real Stripe sends no code for most of those).
    """

    type = "invalid_request_error"

    def __init__(self, code: str, param: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.message = message
        # Every problem found in the request, most important first.
        self.errors: list[ParamError] = [self]

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of Stripe's JSON error body."""
        return {
            "type": self.type,
            "code": self.code,
            "param": self.param,
            "message": self.message,
        }

    def __repr__(self) -> str:
        return f"ParamError({self.code!r}, {self.param!r}, {self.message!r})"


# --------------------------------------------------------------------------
# Form decoding
# --------------------------------------------------------------------------

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"0|[1-9][0-9]*")


def _malformed(key: str) -> ParamError:
    return ParamError("parameter_invalid", key, f"Invalid parameter name: {key}")


@functools.lru_cache(maxsize=4096)
def _split_key(key: str) -> tuple[str, ...]:
    """``a[b][0][]`` -> ``("a", "b", "0", "")``; raises on anything else.

    Remembered: the same few dozen keys come in every request (``line_items[0][price_data][currency]``),
    and splitting them was 6 % of the sandbox's CPU in a benchmark (bench/README.md)."""
    start = key.find("[")
    if start == -1:
        if not key or "]" in key:
            raise _malformed(key)
        return (key,)
    if start == 0:
        raise _malformed(key)
    segments = [key[:start]]
    if "]" in segments[0]:
        raise _malformed(key)
    pos = start
    while pos < len(key):
        match = _SEGMENT.match(key, pos)
        if match is None:
            raise _malformed(key)
        segments.append(match.group(1))
        pos = match.end()
    return tuple(segments)


def _has_path(node: Any, segments: tuple[str, ...]) -> bool:
    for seg in segments:
        if not isinstance(node, dict) or seg not in node:
            return False
        node = node[seg]
    return True


# (container, slot, dict) for each dict whose first key looked like a list index: the only dicts
# that can be turned into lists, since a dict whose keys are all indices has such a first key.
_Candidates = list[tuple[Any, Any, dict[str, Any]]]


def _assign(root: dict[str, Any], segments: tuple[str, ...], value: str, key: str,
            candidates: _Candidates) -> None:  # fmt: skip
    """Put one field's value at its place under ``root`` (Rack's nesting rules)."""
    node = root
    i = 0
    last = len(segments) - 1
    while True:
        name = segments[i]
        if name == "":
            raise _malformed(key)
        if i == last:
            if isinstance(node.get(name), (dict, list)):  # a tuple: ``dict | list`` is built per call
                raise _malformed(key)
            node[name] = value  # a repeated scalar key: the last one wins, as in Rack
            return
        following = segments[i + 1]
        if following == "":
            items = node.setdefault(name, [])
            if not isinstance(items, list):
                raise _malformed(key)
            if i + 1 == last:
                items.append(value)
                return
            rest = segments[i + 2 :]
            # a[][x]=1&a[][y]=2 builds one hash; Rack starts a new one only when
            # the key is already set in the last hash.
            if items and isinstance(items[-1], dict) and not _has_path(items[-1], rest):
                node = items[-1]
            else:
                node = {}
                items.append(node)
                if rest[0].isdigit():
                    candidates.append((items, len(items) - 1, node))
            i += 2
            continue
        child = node.get(name)  # never None as a value: values are strings, dicts and lists
        if child is None:
            child = node[name] = {}
            if following.isdigit():
                candidates.append((node, name, child))
        elif not isinstance(child, dict):
            raise _malformed(key)
        node = child
        i += 1


def _listify(candidates: _Candidates) -> None:
    """Turn each candidate ``{"0": a, "1": b}`` into ``[a, b]`` where it stands.

    Only dicts recorded by ``_assign`` are looked at (walking every dict at every depth was 7 % of
    the sandbox's CPU in a benchmark). The newest first: a dict is made after the one holding it,
    so inner dicts have become lists before the dict holding them is looked at.
    """
    for container, slot, node in reversed(candidates):
        # The cheap tests first: only keys made of ASCII digits can be indices.
        if all(k.isascii() and k.isdigit() and _INDEX.fullmatch(k) for k in node):
            indices = sorted(int(k) for k in node)
            if indices == list(range(len(indices))):
                container[slot] = [node[str(i)] for i in indices]


@functools.lru_cache(maxsize=4096)
def _field_name(sent: str) -> tuple[str, tuple[str, ...] | None]:
    """A field's name as sent (``line_items%5B0%5D%5Bquantity%5D``) -> (the name, its segments),
    or (the name, None) if it is malformed.

    Remembered: the same few dozen names come in every request, and unquoting them (a pure-Python
    loop over each ``%5B``) was most of ``parse_qsl``'s time, itself most of ``decode_form``'s.
    Decoded as ``parse_qsl`` does (``+`` is a space, UTF-8, strict); a name that is not UTF-8
    raises each time, as exceptions are not remembered.
    """
    key = unquote(sent.replace("+", " "), errors="strict")
    try:
        return key, _split_key(key)
    except ParamError:
        return key, None  # refused when its turn comes: the body's encoding is checked first


def decode_form(body: bytes | str) -> dict[str, Any]:
    """Decode an ``application/x-www-form-urlencoded`` body in Stripe's
    bracket notation (also usable for query strings). Values stay strings."""
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParamError("parameter_invalid", "", "Invalid request body: not valid UTF-8") from exc
    if not body:
        return {}
    # parse_qsl(body, keep_blank_values=True, errors="strict"), with names remembered and values
    # without a % left alone: every field is decoded before any is placed, so an encoding error
    # anywhere is reported before a malformed name.
    fields = []
    try:
        for field in body.split("&"):
            if not field:
                continue
            name, _, value = field.partition("=")
            if "%" in value:
                value = value.replace("+", " ")
                # unquote() of an all-ASCII string is exactly this, without its regex split.
                value = (
                    unquote_to_bytes(value).decode() if value.isascii() else unquote(value, errors="strict")
                )
            elif "+" in value:
                value = value.replace("+", " ")
            fields.append((_field_name(name), value))
    except UnicodeDecodeError as exc:
        raise ParamError("parameter_invalid", "", "Invalid request body: not valid UTF-8") from exc
    root: dict[str, Any] = {}
    candidates: _Candidates = []
    for (key, segments), value in fields:
        _assign(root, segments or _split_key(key), value, key, candidates)
    _listify(candidates)
    return root


# --------------------------------------------------------------------------
# Looking up param classes
# --------------------------------------------------------------------------


@functools.cache
def params_class(name: str) -> type:
    """``"checkout.SessionCreateParams"`` -> ``stripe.params.checkout.SessionCreateParams``.

    Raises KeyError if no such TypedDict exists in the installed stripe-python.
    """
    dotted = name.removeprefix("stripe.params.")
    module_path, _, attr = dotted.rpartition(".")
    module_name = "stripe.params" + (f".{module_path}" if module_path else "")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise KeyError(name) from exc
    if not typing_extensions.is_typeddict(cls):
        raise KeyError(name)
    return cls


# --------------------------------------------------------------------------
# Schema nodes
# --------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("coerce", "errors")

    def __init__(self, coerce: bool) -> None:
        self.coerce = coerce
        self.errors: list[ParamError] = []

    def fail(self, code: str, param: str, message: str) -> None:
        self.errors.append(ParamError(code, param, message))


_BAD = object()  # returned by nodes after recording an error


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


class _Node:
    # "" is accepted (meaning "unset") only where the type says Literal[""].
    blank_ok = False
    kind = "scalar"  # which value shape it accepts: scalar, list or object

    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str) and value == "" and not isinstance(self, _Any):
            if self.blank_ok:
                return ""
            ctx.fail(
                "parameter_invalid_empty",
                path,
                f"You passed an empty string for '{path}'. We assume empty values are an "
                f"attempt to unset a parameter; however '{path}' cannot be unset. You should "
                f"remove '{path}' from your request or supply a non-empty value.",
            )
            return _BAD
        return self._check(value, path, ctx)

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        raise NotImplementedError


class _Any(_Node):
    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        return value


class _Str(_Node):
    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str):
            return value
        if not ctx.coerce:
            # JSON bodies: Stripe's form world has no types, so scalars are fine.
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float | decimal.Decimal):
                return str(value)
        ctx.fail("parameter_invalid", path, f"Invalid string: {_show(value)}")
        return _BAD


class _Int(_Node):
    _PATTERN = re.compile(r"-?[0-9]+")

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str) and self._PATTERN.fullmatch(value):
            return int(value)
        if not ctx.coerce and not isinstance(value, bool):
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        if isinstance(value, datetime.datetime):
            return int(value.timestamp())
        ctx.fail("parameter_invalid_integer", path, f"Invalid integer: {_show(value)}")
        return _BAD


class _Float(_Node):
    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return number
        elif (
            not ctx.coerce
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        ):
            return float(value)
        ctx.fail("parameter_invalid", path, f"Invalid float: {_show(value)}")
        return _BAD


class _Decimal(_Node):
    _PATTERN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        numeric = isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
        if not ctx.coerce and numeric:
            value = str(value)
        if isinstance(value, str) and self._PATTERN.fullmatch(value):
            return value
        ctx.fail("parameter_invalid", path, f"Invalid decimal: {_show(value)}")
        return _BAD


class _Bool(_Node):
    _WORDS = {"true": True, "false": False}

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str) and value in self._WORDS:
            return self._WORDS[value]
        if not ctx.coerce and isinstance(value, bool):
            return value
        ctx.fail("parameter_invalid", path, f"Invalid boolean: {_show(value)}")
        return _BAD


class _Enum(_Node):
    def __init__(self, values: tuple[Any, ...]) -> None:
        # Literal values may be non-strings in principle; match their wire form.
        self.by_wire = {(str(v).lower() if isinstance(v, bool) else str(v)): v for v in values if v != ""}

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, str) and value in self.by_wire:
            return self.by_wire[value]
        if not ctx.coerce and not isinstance(value, dict | list) and str(value) in self.by_wire:
            return self.by_wire[str(value)]
        names = list(self.by_wire)
        if len(names) == 1:
            allowed = names[0]
        elif len(names) == 2:
            allowed = f"{names[0]} or {names[1]}"
        else:
            allowed = ", ".join(names[:-1]) + f", or {names[-1]}"
        ctx.fail("parameter_invalid", path, f"Invalid {path}: must be one of {allowed}")
        return _BAD


def _as_list(value: Any) -> list[tuple[str | int, Any]] | None:
    """(index, item) pairs from a list or a dict keyed by integers."""
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, Mapping) and value:
        keys = list(value)
        if all(isinstance(k, int) or (isinstance(k, str) and _INDEX.fullmatch(k)) for k in keys):
            return sorted(((k, value[k]) for k in keys), key=lambda kv: int(kv[0]))
    return None


class _List(_Node):
    kind = "list"

    def __init__(self, item: _Node) -> None:
        self.item = item

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        pairs = _as_list(value)
        if pairs is None:
            ctx.fail("parameter_invalid", path, "Invalid array")
            return _BAD
        out = []
        for index, item in pairs:
            checked = self.item.check(item, _join(path, index), ctx)
            out.append(checked)
        return out


class _Dict(_Node):
    kind = "object"

    def __init__(self, value: _Node, metadata: bool = False) -> None:
        self.value = value
        self.metadata = metadata

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if isinstance(value, list | tuple):  # decode_form listified {"0": .., "1": ..}
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, Mapping):
            ctx.fail("parameter_invalid", path, "Invalid object")
            return _BAD
        if self.metadata and len(value) > METADATA_MAX_KEYS:
            ctx.fail(
                "parameter_invalid",
                path,
                f"Metadata can have up to {METADATA_MAX_KEYS} keys, but you've set {len(value)}.",
            )
            return _BAD
        out = {}
        for key, item in value.items():
            key = str(key)
            if self.metadata and len(key) > METADATA_MAX_KEY_LENGTH:
                ctx.fail(
                    "parameter_invalid",
                    path,
                    f"Invalid key: {key} must be a string under {METADATA_MAX_KEY_LENGTH} characters",
                )
                continue
            checked = self.value.check(item, _join(path, key), ctx)
            if self.metadata and isinstance(checked, str) and len(checked) > METADATA_MAX_VALUE_LENGTH:
                ctx.fail(
                    "parameter_invalid",
                    path,
                    f"Invalid val: {_show(checked)} must be a string under "
                    f"{METADATA_MAX_VALUE_LENGTH} characters",
                )
                continue
            out[key] = checked
        return out


class _Object(_Node):
    kind = "object"

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if not isinstance(value, Mapping):
            ctx.fail("parameter_invalid", path or "", "Invalid object")
            return _BAD
        fields, required = _schema(self.cls)
        for key in value:
            if key not in fields:
                name = _join(path, key)
                ctx.fail("parameter_unknown", name, f"Received unknown parameter: {name}")
        for key in required:
            if key not in value:
                name = _join(path, key)
                ctx.fail("parameter_missing", name, f"Missing required param: {name}.")
        out = {}
        for key, item in value.items():
            node = fields.get(key)
            if node is not None:
                out[key] = node.check(item, _join(path, key), ctx)
        return out


class _Union(_Node):
    def __init__(self, options: list[_Node]) -> None:
        # Try scalars before containers so "now" hits Literal["now"] before int.
        self.options = options

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "union"

    def _check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        shape = (
            "list"
            if isinstance(value, list | tuple)
            else "object"
            if isinstance(value, Mapping)
            else "scalar"
        )
        fitting = [o for o in self.options if o.kind == shape]
        if shape == "object" and not fitting:
            fitting = [o for o in self.options if o.kind == "list" and _as_list(value)]
        if shape == "list" and not fitting:
            fitting = [o for o in self.options if isinstance(o, _Dict)]
        first_failure: list[ParamError] | None = None
        for option in fitting or self.options[:1]:
            trial = _Ctx(ctx.coerce)
            result = option.check(value, path, trial)
            if not trial.errors:
                return result
            if first_failure is None:
                first_failure = trial.errors
        ctx.errors.extend(first_failure or [])
        return _BAD


# --------------------------------------------------------------------------
# Compiling annotations into nodes
# --------------------------------------------------------------------------

_NONE_TYPE = type(None)


def _is_stripe_object(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return isinstance(origin, type) and issubclass(origin, StripeObject)


def _compile(tp: Any, field: str) -> _Node:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _compile(args[0], field)
    if origin is typing.Union or origin is types.UnionType:
        return _compile_union(args, field)
    if origin is typing.Literal or origin is typing_extensions.Literal:
        return _compile_union((tp,), field)
    if typing_extensions.is_typeddict(tp):
        return _Object(tp)
    if isinstance(origin, type) and issubclass(origin, list | tuple):
        return _List(_compile(args[0], field) if args else _Any())
    if _is_stripe_object(tp):
        value = _compile(args[0], field) if args else _Any()
        value.blank_ok = True
        return _Dict(value, metadata=field == "metadata")
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        value = _compile(args[1], field) if len(args) == 2 else _Any()
        # An empty metadata value unsets that key.
        value.blank_ok = True
        return _Dict(value, metadata=field == "metadata")
    simple = {
        str: _Str,
        int: _Int,
        bool: _Bool,
        float: _Float,
        decimal.Decimal: _Decimal,
        Any: _Any,
        object: _Any,
    }
    if tp in simple:
        return simple[tp]()
    if tp is dict:
        return _Dict(_Any(), metadata=field == "metadata")
    if tp is list:
        return _List(_Any())
    raise TypeError(f"sandbox.params: unsupported annotation {tp!r} for {field!r}")


def _compile_union(args: tuple[Any, ...], field: str) -> _Node:
    literals: list[Any] = []
    others: list[Any] = []
    for arg in args:
        if arg is _NONE_TYPE:
            continue
        if typing.get_origin(arg) in (typing.Literal, typing_extensions.Literal):
            literals.extend(typing.get_args(arg))
        else:
            others.append(arg)
    blank_ok = "" in literals
    values = tuple(v for v in literals if v != "")
    if values:
        # Literal[...] | str: the str is the SDK's forward-compat widening; the
        # API still rejects values outside the enum.
        others = [o for o in others if o is not str]
    options: list[_Node] = [_Enum(values)] if values else []
    seen: set[str] = set()
    for other in others:
        node = _compile(other, field)
        # Dict[str, str] | UntypedStripeObject[str] are the same thing on the wire.
        if node.kind == "object" and isinstance(node, _Dict):
            if "dict" in seen:
                continue
            seen.add("dict")
        options.append(node)
    options.sort(key=lambda n: n.kind != "scalar")
    if not options:  # only Literal[""]
        node: _Node = _Str()
    elif len(options) == 1:
        node = options[0]
    else:
        node = _Union(options)
    if blank_ok:
        node.blank_ok = True
    return node


def _inherits_request_options(cls: type) -> bool:
    stack = list(getattr(cls, "__orig_bases__", ()))
    while stack:
        base = stack.pop()
        if base is RequestOptions:
            return True
        stack.extend(getattr(base, "__orig_bases__", ()))
    return False


@functools.cache
def _schema(cls: type) -> tuple[dict[str, _Node], tuple[str, ...]]:
    """(field -> node, required field names) for a TypedDict, cached."""
    annotations = dict(cls.__annotations__)
    if _inherits_request_options(cls):
        for key in REQUEST_OPTION_KEYS:
            annotations.pop(key, None)
    # Resolve through a stand-in class so the request-option annotations (which
    # name TYPE_CHECKING-only types such as StripeContext) are never evaluated.
    holder = type(cls.__name__, (), {"__annotations__": annotations, "__module__": cls.__module__})
    module_ns = vars(sys.modules[cls.__module__])
    hints = typing.get_type_hints(holder, globalns=module_ns, include_extras=True)
    total = getattr(cls, "__total__", True)
    fields: dict[str, _Node] = {}
    required: list[str] = []
    for name, hint in hints.items():
        is_required = total
        while True:
            origin = typing.get_origin(hint)
            if origin is typing.NotRequired:
                is_required = False
            elif origin is typing.Required:
                is_required = True
            elif origin is not typing.Annotated:
                break
            hint = typing.get_args(hint)[0]
        fields[name] = _compile(hint, name)
        if is_required:
            required.append(name)
    return fields, tuple(required)


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def validate(cls: type, params: Mapping[str, Any], *, coerce_strings: bool = True) -> dict[str, Any]:
    """Check ``params`` against a stripe-python TypedDict and return a new dict
    coerced to the declared types.

    ``coerce_strings=True`` is for form bodies (every leaf is a string);
    ``False`` is for JSON bodies, where values must already have their types,
    bar the int<->str slack Stripe tolerates. Raises the most important
    ParamError (unknown, then missing, then invalid); all of them are on
    ``err.errors``.
    """
    ctx = _Ctx(coerce_strings)
    result = _Object(cls).check(params, "", ctx)
    if ctx.errors:
        errors = sorted(ctx.errors, key=lambda e: _PRIORITY.get(e.code, 2))
        first = errors[0]
        unknown = [e.param for e in errors if e.code == "parameter_unknown"]
        if len(unknown) > 1:
            first = ParamError(
                "parameter_unknown",
                unknown[0],
                f"Received unknown parameters: {', '.join(unknown)}",
            )
        first.errors = errors
        raise first
    return result
