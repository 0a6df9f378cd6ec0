"""Object templates from Stripe's own fixtures3.json, so shapes follow Stripe's."""

from __future__ import annotations

import ast
import json
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("fixtures") / "fixtures3.json"


@cache
def _resources() -> dict[str, Any]:
    return json.loads(_PATH.read_text(encoding="utf-8"))["resources"]


def _literal(value: Any) -> ast.expr:
    """The expression that builds ``value`` anew: a dict or list display per container, in order."""
    if type(value) is dict:
        return ast.Dict(keys=[ast.Constant(k) for k in value], values=[_literal(v) for v in value.values()])
    if type(value) is list:
        return ast.List(elts=[_literal(v) for v in value], ctx=ast.Load())
    return ast.Constant(value)  # str, int, float, bool or None: immutable, so shared safely


@cache
def _maker(kind: str) -> Callable[[], dict[str, Any]]:
    """A function returning a fresh deep copy of Stripe's example ``kind`` object.

    Compiled from the object's values (no source text is parsed): every call builds new dicts and
    lists, in the fixture's order, around the same immutable strings and numbers. Twice as fast as
    loading a cached marshal image, which itself was several times faster than copy.deepcopy or
    json.loads, and benchmarks create thousands of objects a second on the cores the service under
    test uses (bench/README.md).
    """
    expression = ast.fix_missing_locations(ast.Expression(body=_literal(_resources()[kind])))
    return types.FunctionType(compile(expression, f"<fixture {kind}>", "eval"), {})


def template(kind: str, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``kind`` object with ``overrides`` applied on top."""
    obj = _maker(kind)()
    obj.update(overrides)
    if "livemode" in obj:  # some of Stripe's objects (refund, item, ...) carry none
        obj["livemode"] = False
    return obj
