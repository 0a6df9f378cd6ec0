"""A telethon peak: donors from everywhere past the service's donation rate are never refused.

Clients arrive through one trusted proxy (``TRUSTED_PROXY_COUNT=1``, its ``X-Forwarded-For``).
Past ``RATE_LIMIT_DONATIONS_GLOBAL`` a one-off donation goes straight to its appeal's Payment
Link (no Stripe call), while a card-testing burst from one address, or from hundreds of addresses
in a couple of networks, is still refused by the per-address and per-network limits.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import requests
from sqlalchemy import select

from service import extensions
from service.donations.models import Donation, DonationStatus
from service.models import WebhookEvent, WebhookOutcome
from service.settings import Settings
from tests.ledger.payloads import post

API = "/api/v1/donations"
FORM = "/donate/red-cross-ukraine"
GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off"}
SERVICE_RATE = 20  # donations a minute before donors go to the Payment Link
STRIPE_CALLS = 8  # what the call budget grants in the whole test


class CountedBudget:
    """A Stripe call budget with a fixed number of calls, counting what it granted and refused."""

    def __init__(self, calls: int) -> None:
        self.left = calls
        self.granted = 0
        self.refused = 0

    def acquire(self, max_wait: float) -> bool:
        if self.left <= 0:
            self.refused += 1
            return False
        self.left -= 1
        self.granted += 1
        return True


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        trusted_proxy_count=1,
        # The production defaults for addresses and networks: the conftest raises them for bursts.
        rate_limit_donations=Settings.rate_limit_donations,
        rate_limit_donations_network=Settings.rate_limit_donations_network,
        rate_limit_donations_global=f"{SERVICE_RATE}/minute",
    )


@pytest.fixture
def budget(app: Any, payment_links: str) -> CountedBudget:
    counted = CountedBudget(STRIPE_CALLS)
    extensions.stripe_gateway(app).budget = counted
    return counted


def donor_address(n: int) -> str:
    """The n-th donor's address: a different /24 for each, as viewers across a country."""
    return f"{20 + n // 65536}.{n // 256 % 256}.{n % 256}.{7 + n % 200}"


def through_proxy(address: str) -> dict[str, str]:
    # Whatever a client sends is kept in front; the proxy appends the peer it saw.
    return {"X-Forwarded-For": f"10.9.9.9, {address}"}


def _form(client: Any, address: str) -> dict[str, str]:
    html = client.get(FORM, headers=through_proxy(address)).get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token
    return {"form_token": token.group(1), "currency": "gbp", "frequency": "one_off", "amount_choice": "2500"}


def _metric_values(client: Any) -> dict[str, float]:
    """This process's counters (the registry outlives each test, so compare before and after)."""
    text = client.get("/metrics").get_data(as_text=True)
    return {
        name: float(value)
        for name, value in re.findall(
            r"^(donation_router_(?:surge_redirects|rate_limited)_total\S*) (\S+)$", text, re.M
        )
    }


def _stripe_session_calls(sandbox: Any) -> int:
    return len(sandbox.control.requests(path="/v1/checkout/sessions", method="POST"))


def _pay(sandbox: Any, donation: Donation) -> str:
    """Pay as the donor would, through the session or the link; returns the paid session's id."""
    if donation.status == DonationStatus.PENDING:
        session_id = donation.stripe_checkout_session_id
    else:
        visit = requests.get(donation.checkout_url, allow_redirects=False, timeout=5)
        assert visit.status_code == 303
        session_id = visit.headers["Location"].rsplit("/", 1)[-1]
    sandbox.control.complete_session(session_id, outcome="paid")
    return session_id


def _deliver_every_event(client: Any, sandbox: Any) -> int:
    """Every event the sandbox made, oldest first, signed as Stripe signs them."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = requests.get(
            f"{sandbox.base_url}/v1/events", params=params, auth=("sk_test_suite", ""), timeout=5
        ).json()
        events.extend(page["data"])
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    for event in reversed(events):
        assert post(client, event).status_code == 200
    return len(events)


def test_telethon_donors_past_the_service_rate_take_the_payment_link_and_none_is_refused(
    app: Any, client: Any, sandbox: Any, budget: CountedBudget, db_session: Any
) -> None:
    donors = 120
    before = _metric_values(client)
    answers: Counter[int] = Counter()
    donation_ids: list[str] = []
    sandbox.control.clear_requests()
    for n in range(donors):
        address = donor_address(n)
        if n % 6 == 5:  # some give through the donate form, without JavaScript
            response = client.post(FORM, data=_form(client, address), headers=through_proxy(address))
            answers[response.status_code] += 1
            assert response.headers["Location"].startswith(sandbox.base_url)
        else:
            response = client.post(API, json=GIFT, headers=through_proxy(address))
            answers[response.status_code] += 1
            donation_ids.append(response.get_json()["id"])

    # No donor refused, none shown an error: a Checkout Session or the appeal's Payment Link each.
    assert answers == Counter({201: 100, 303: 20}), answers
    statuses = Counter(db_session.scalars(select(Donation.status)).all())
    assert sum(statuses.values()) == donors
    assert set(statuses) == {DonationStatus.PENDING, DonationStatus.SURGE_REDIRECTED}, statuses
    # The first SERVICE_RATE took the usual path: the budget granted STRIPE_CALLS, the rest of
    # them were redirected when it said no; every donor past the rate went to the link at once.
    assert statuses[DonationStatus.PENDING] == STRIPE_CALLS
    assert budget.granted == STRIPE_CALLS and budget.refused == SERVICE_RATE - STRIPE_CALLS
    # Stripe calls never above the budget: only the granted ones reached Stripe.
    assert _stripe_session_calls(sandbox) == STRIPE_CALLS
    after = _metric_values(client)
    counted = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    assert counted['donation_router_surge_redirects_total{reason="service_rate"}'] == donors - SERVICE_RATE
    assert (
        counted['donation_router_surge_redirects_total{reason="stripe_budget"}']
        == SERVICE_RATE - STRIPE_CALLS
    )
    assert counted["donation_router_rate_limited_total"] == 0

    # Every paid donation lands on its own donation: a sample of each path, paid in the sandbox.
    pending = db_session.scalars(select(Donation).where(Donation.status == DonationStatus.PENDING)).all()
    redirected = db_session.scalars(
        select(Donation).where(Donation.status == DonationStatus.SURGE_REDIRECTED).limit(12)
    ).all()
    paid = {donation.id: _pay(sandbox, donation) for donation in [*pending, *redirected]}
    assert _deliver_every_event(client, sandbox) > 0
    db_session.expire_all()
    for donation_id, session_id in paid.items():
        donation = db_session.get(Donation, donation_id)
        assert donation.status == DonationStatus.PAID, (donation_id, donation.status)
        assert donation.stripe_checkout_session_id == session_id and not donation.needs_attention
    quarantined = db_session.scalars(
        select(WebhookEvent.outcome_reason).where(WebhookEvent.outcome == WebhookOutcome.QUARANTINED)
    ).all()
    assert quarantined == []


def test_card_testing_bursts_are_held_back_while_telethon_donors_get_through(
    app: Any, client: Any, budget: CountedBudget, db_session: Any
) -> None:
    per_address, per_network = 10, 300  # the defaults (service/settings.py)
    tester = "192.0.2.66"
    # A rented proxy block: 500 addresses in two /24 networks, each address trying a few cards.
    botnet = [f"198.51.100.{i}" for i in range(1, 251)] + [f"203.0.113.{i}" for i in range(1, 251)]
    answers: dict[str, Counter[int]] = {
        "donors": Counter(),
        "one address": Counter(),
        "500 addresses": Counter(),
    }
    donor = 0
    rounds = 3  # each address tries three cards
    for round_ in range(rounds):
        for i, address in enumerate(botnet):
            answers["500 addresses"][
                client.post(API, json=GIFT, headers=through_proxy(address)).status_code
            ] += 1
            if i % 10 == 0:
                answers["one address"][
                    client.post(API, json=GIFT, headers=through_proxy(tester)).status_code
                ] += 1
            if i % 25 == round_:
                answers["donors"][
                    client.post(API, json=GIFT, headers=through_proxy(donor_address(donor))).status_code
                ] += 1
                donor += 1

    assert answers["donors"] == Counter({201: donor}), answers
    assert answers["one address"] == Counter({201: per_address, 429: rounds * 50 - per_address}), answers
    attempts = rounds * len(botnet)
    assert answers["500 addresses"] == Counter({201: 2 * per_network, 429: attempts - 2 * per_network}), (
        answers
    )
    refused = client.post(API, json=GIFT, headers=through_proxy("198.51.100.77"))
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Past the service rate nothing more reached Stripe than the budget granted.
    assert budget.granted <= STRIPE_CALLS
    assert db_session.scalar(select(Donation.id).limit(1)) is not None
