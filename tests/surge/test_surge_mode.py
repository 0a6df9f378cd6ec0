"""Surge mode: a spent budget or Stripe's 429 waits, retries, or sends the donor to a Payment Link."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from service import extensions
from service.donations.checkout import create_session_within
from service.donations.models import Donation, DonationStatus, PaymentLink
from service.stripe_budget import LocalBudget
from service.stripe_gateway import StripeGatewayError
from tests.support.budgets import Clock, SpentBudget

API = "/api/v1/donations"
GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off"}


def _sessions_created(sandbox: Any) -> int:
    return len(sandbox.control.requests(path="/v1/checkout/sessions", method="POST"))


def _form(client: Any) -> dict[str, str]:
    html = client.get("/donate/red-cross-ukraine").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token
    return {"form_token": token.group(1), "currency": "gbp", "frequency": "one_off", "amount_choice": "2500"}


def test_cli_creates_one_payment_link_per_appeal_currency_once(runner: Any, db_session: Any) -> None:
    first = runner.invoke(args=["surge", "payment-links", "create"])
    again = runner.invoke(args=["surge", "payment-links", "create"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    links = db_session.scalars(select(PaymentLink)).all()
    assert sorted(link.currency for link in links) == ["eur", "gbp", "usd"]
    assert first.output.count("created") == 3 and again.output.count("exists") == 3
    listed = runner.invoke(args=["surge", "payment-links", "list"])
    assert listed.output.count("red-cross-ukraine") == 3


def test_spent_budget_sends_api_donor_to_payment_link_without_calling_stripe(
    client: Any, sandbox: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    response = client.post(API, json=GIFT)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == DonationStatus.SURGE_REDIRECTED
    link = db_session.scalar(select(PaymentLink).where(PaymentLink.currency == "gbp"))
    assert body["checkout_url"] == f"{link.url}?client_reference_id={body['id']}"
    assert _sessions_created(sandbox) == 0 and spent.asked >= 1


def test_spent_budget_never_shows_a_form_donor_an_error_page(
    client: Any, payment_links: str, spent: SpentBudget
) -> None:
    response = client.post("/donate/red-cross-ukraine", data=_form(client))
    assert response.status_code == 303
    assert "/c/link/" in response.headers["Location"]
    assert "client_reference_id=don_" in response.headers["Location"]


def test_repeated_request_for_a_redirected_donation_returns_the_same_link(
    client: Any, payment_links: str, spent: SpentBudget
) -> None:
    first = client.post(API, json=GIFT, headers={"Idempotency-Key": "surge-repeat-1"})
    again = client.post(API, json=GIFT, headers={"Idempotency-Key": "surge-repeat-1"})
    assert first.get_json()["checkout_url"] == again.get_json()["checkout_url"]


def test_donor_waits_for_the_next_second_of_budget_instead_of_failing(
    app: Any, client: Any, sandbox: Any, payment_links: str
) -> None:
    budget = LocalBudget(2)  # one call every 500 ms
    budget.acquire(0)  # the budget's next call is 500 ms away, within the 0.8 s a donor may wait
    extensions.stripe_gateway(app).budget = budget
    response = client.post(API, json=GIFT)
    assert response.status_code == 201
    assert response.get_json()["status"] == DonationStatus.PENDING
    assert _sessions_created(sandbox) == 1


def test_a_stripe_429_is_retried_within_the_wait(client: Any, sandbox: Any, payment_links: str) -> None:
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions", status=429)
    response = client.post(API, json=GIFT)
    assert response.status_code == 201
    assert response.get_json()["status"] == DonationStatus.PENDING


def test_stripe_429s_past_the_wait_send_the_donor_to_the_payment_link(
    client: Any, sandbox: Any, payment_links: str
) -> None:
    sandbox.control.fail_next(100, path_prefix="/v1/checkout/sessions", status=429)
    response = client.post("/donate/red-cross-ukraine", data=_form(client))
    assert response.status_code == 303 and "/c/link/" in response.headers["Location"]
    # How long the donor waits first: test_429s_are_retried_only_within_the_surge_wait.


class RateLimitedGateway:
    """Stripe answering 429 to every attempt; each attempt takes ``call_seconds`` on the clock."""

    def __init__(self, clock: Any, call_seconds: float):
        self.clock, self.call_seconds = clock, call_seconds
        self.attempts: list[tuple[float, float]] = []

    def create_checkout_session(self, params: Any, idempotency_key: str, budget_wait: float) -> Any:
        self.attempts.append((self.clock.now, budget_wait))
        self.clock.now += self.call_seconds
        raise StripeGatewayError("rate_limited", "rate_limit", "Too many requests")


def test_429s_are_retried_only_within_the_surge_wait() -> None:
    clock = Clock()
    gateway = RateLimitedGateway(clock, call_seconds=0.05)
    with pytest.raises(StripeGatewayError):
        create_session_within(gateway, {}, "key", 0.8, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    # Retried after 0.2-0.5 s pauses, never sleeping past SURGE_WAIT_SECONDS, and each attempt
    # told how much of the wait is left for the call budget.
    assert len(gateway.attempts) >= 2
    assert all(0.2 <= pause <= 0.5 for pause in clock.slept)
    assert clock.now - 1000.0 <= 0.8 + 0.05
    assert [wait for _, wait in gateway.attempts] == pytest.approx(
        [1000.8 - at for at, _ in gateway.attempts]
    )


def test_sandbox_rate_limit_switch_never_reaches_the_donor(
    client: Any, sandbox: Any, payment_links: str
) -> None:
    sandbox.control.configure(rate_limit=2)
    statuses = {client.post(API, json=GIFT).get_json()["status"] for _ in range(8)}
    assert statuses <= {DonationStatus.PENDING, DonationStatus.SURGE_REDIRECTED}


def test_without_a_payment_link_a_spent_budget_keeps_the_retryable_answer(
    client: Any, spent: SpentBudget
) -> None:
    response = client.post(API, json=GIFT)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "payment_provider_unavailable"


def test_monthly_gifts_are_not_turned_into_one_off_links(
    client: Any, payment_links: str, spent: SpentBudget
) -> None:
    response = client.post(API, json={**GIFT, "frequency": "monthly"})
    assert response.status_code == 503


def test_redis_down_still_takes_donations_on_the_in_process_budget(make_app: Any, sandbox: Any) -> None:
    own = make_app(stripe_call_budget=20, redis_url="redis://127.0.0.1:1/0")
    response = own.test_client().post(API, json=GIFT)
    assert response.status_code == 201
    assert response.get_json()["status"] == DonationStatus.PENDING


def test_redis_budget_limits_stripe_calls_across_requests(
    make_app: Any, sandbox: Any, payment_links: str
) -> None:
    app = make_app(
        stripe_call_budget=2,
        redis_url="redis://127.0.0.1:6379/0",
        surge_wait_seconds=0,
        # Its own budget key in Redis: no calls another test spent in this second count here.
        deployment_id=f"surge-{uuid.uuid4().hex[:12]}",
    )
    sandbox.control.clear_requests()
    started = time.monotonic()
    statuses = [app.test_client().post(API, json=GIFT).get_json()["status"] for _ in range(8)]
    # One call now, then one every 500 ms: however slow the machine, never more than that.
    pending = statuses.count(DonationStatus.PENDING)
    assert 1 <= pending <= 1 + 2 * (time.monotonic() - started)
    assert statuses.count(DonationStatus.SURGE_REDIRECTED) == 8 - pending
    assert _sessions_created(sandbox) == pending


def test_donation_rows_exist_before_the_redirect(
    client: Any, payment_links: str, spent: SpentBudget, db_session: Any
) -> None:
    donation_id = client.post(API, json=GIFT).get_json()["id"]
    donation = db_session.get(Donation, donation_id)
    assert donation.status == DonationStatus.SURGE_REDIRECTED and donation.checkout_attempts == 1


class GrantingBudget:
    """A budget that grants ``slots`` calls and then none, counting what it was asked."""

    def __init__(self, slots: int):
        self.left, self.asked = slots, 0

    def acquire(self, max_wait: float) -> bool:
        self.asked += 1
        self.left -= 1
        return self.left >= 0


def test_stripe_pythons_own_resend_after_a_5xx_takes_another_slot(
    app: Any, client: Any, sandbox: Any, payment_links: str
) -> None:
    # Every request that reaches Stripe counts against its limit, resends included; the
    # sandbox's 500 says Stripe-Should-Retry, so stripe-python sends the request again itself.
    budget = GrantingBudget(5)
    extensions.stripe_gateway(app).budget = budget
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions", status=500)
    response = client.post(API, json=GIFT)
    assert response.status_code == 201
    assert response.get_json()["status"] == DonationStatus.PENDING
    assert budget.asked == 2 == _sessions_created(sandbox)


def test_a_resend_that_finds_no_slot_is_not_sent_and_the_donor_takes_the_payment_link(
    app: Any, client: Any, sandbox: Any, payment_links: str
) -> None:
    budget = GrantingBudget(1)
    extensions.stripe_gateway(app).budget = budget
    sandbox.control.fail_next(1, path_prefix="/v1/checkout/sessions", status=500)
    response = client.post(API, json=GIFT)
    assert response.status_code == 201
    assert response.get_json()["status"] == DonationStatus.SURGE_REDIRECTED
    assert _sessions_created(sandbox) == 1  # the first attempt only
