"""Object templates from Stripe's own fixtures3.json, so shapes follow Stripe's."""

from __future__ import annotations

import json
import marshal
from functools import cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("fixtures") / "fixtures3.json"


@cache
def _resources() -> dict[str, Any]:
    return json.loads(_PATH.read_text(encoding="utf-8"))["resources"]


@cache
def _encoded(kind: str) -> bytes:
    return marshal.dumps(_resources()[kind])


def template(kind: str, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``kind`` object with ``overrides`` applied on top."""
    # Loading a cached marshal image is several times faster than copy.deepcopy or json.loads,
    # and benchmarks create thousands of objects a second on the cores the service under test
    # uses (bench/README.md). Stripe's fixtures hold only what marshal keeps exactly: dicts in
    # their order, lists, strings, numbers, booleans and None.
    obj = marshal.loads(_encoded(kind))  # noqa: S302 - bytes this process made from its own fixtures
    obj.update(overrides)
    if "livemode" in obj:  # some of Stripe's objects (refund, item, ...) carry none
        obj["livemode"] = False
    return obj
