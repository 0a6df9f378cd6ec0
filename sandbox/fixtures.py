"""Object templates from Stripe's own fixtures3.json, so shapes follow Stripe's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("fixtures") / "fixtures3.json"


@cache
def _resources() -> dict[str, Any]:
    return json.loads(_PATH.read_text(encoding="utf-8"))["resources"]


@cache
def _encoded(kind: str) -> str:
    return json.dumps(_resources()[kind])


def template(kind: str, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``kind`` object with ``overrides`` applied on top."""
    # Decoding cached JSON is several times faster than copy.deepcopy, and
    # benchmarks create thousands of objects a second.
    obj = json.loads(_encoded(kind))
    obj.update(overrides)
    if "livemode" in obj:  # some of Stripe's objects (refund, item, ...) carry none
        obj["livemode"] = False
    return obj
