"""docs/going-live.md tells operators which events to enable: it must be the list the code handles."""

from __future__ import annotations

import re
from pathlib import Path

from service.ledger.dispatch import EVENT_TYPES
from service.ledger.sync import CONNECTED_EVENT_TYPES
from service.stripe_gateway import API_VERSION

DOC = (Path(__file__).resolve().parents[2] / "docs" / "going-live.md").read_text()


def _section(start: str, end: str) -> str:
    return DOC[DOC.index(start) : DOC.index(end, DOC.index(start))]


def test_the_endpoint_events_listed_are_exactly_the_handled_types() -> None:
    listed = re.findall(r"`([a-z_.]+\.[a-z_]+)`", _section("Today that is:", "If a release adds"))
    assert sorted(listed) == EVENT_TYPES


def test_the_connect_endpoint_events_are_the_ones_read_from_charity_accounts() -> None:
    text = _section("**If any appeal has its own Stripe account (Connect)**", "Run the `worker:` process")
    assert sorted(re.findall(r"`(payout\.[a-z_]+)`", text)) == sorted(CONNECTED_EVENT_TYPES)


def test_the_pinned_api_version_is_the_one_documented() -> None:
    assert f"**`{API_VERSION}`**" in DOC
