"""sandbox.fixtures.template: a fresh deep copy of Stripe's example object, every call."""

from __future__ import annotations

import json
import marshal
from typing import Any

import pytest

from sandbox.fixtures import _resources, template


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, dict | list) else []
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        found.extend(_containers(child))
    return found


@pytest.mark.parametrize("kind", sorted(_resources()))
def test_template_is_a_fresh_exact_copy_of_the_fixture(kind: str) -> None:
    fixture = _resources()[kind]
    # What the marshal round trip (the previous way) gave: same keys in the same order, same types.
    expected = marshal.loads(marshal.dumps(fixture))  # noqa: S302 - bytes made just above
    if "livemode" in expected:
        expected["livemode"] = False
    first, second = template(kind), template(kind)
    assert json.dumps(first) == json.dumps(second) == json.dumps(expected)
    assert first == expected
    # No dict or list is shared with another copy or with the cached fixture itself.
    ids = [{id(c) for c in _containers(x)} for x in (first, second, fixture)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_changing_a_copy_changes_no_other() -> None:
    first = template("checkout.session", id="cs_1")
    first["metadata"]["a"] = "b"
    first["payment_method_types"].append("card_x")
    second = template("checkout.session")
    assert second["metadata"] == _resources()["checkout.session"]["metadata"]
    assert "card_x" not in second["payment_method_types"]
    assert first["id"] == "cs_1" and second["id"] == _resources()["checkout.session"]["id"]
