"""The shared Stripe call budget: per-second windows, shared through Redis, local when Redis is down."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from service.settings import Settings
from service.stripe_budget import LocalBudget, RedisBudget, budget_from_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self, now: float = 1000.2):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_local_budget_allows_the_budget_per_second_then_refuses_until_the_next_second() -> None:
    clock = Clock()
    budget = LocalBudget(3, clock=clock)
    assert [budget.try_take() for _ in range(4)] == [True, True, True, False]
    clock.now += 1
    assert budget.try_take()


def test_acquire_waits_for_the_next_second_when_allowed_to() -> None:
    budget = LocalBudget(1)
    assert budget.acquire(0)
    started = time.monotonic()
    assert budget.acquire(1.5)
    assert time.monotonic() - started < 1.2


def test_acquire_gives_up_without_waiting_past_its_limit() -> None:
    budget = LocalBudget(1)
    budget.acquire(0)
    started = time.monotonic()
    assert not budget.acquire(0)
    assert time.monotonic() - started < 0.05


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (tests/surge needs it)", pytrace=False)
    return client


def test_two_processes_share_one_budget_in_redis(redis_client: redis.Redis) -> None:
    prefix = f"test-budget-{uuid.uuid4().hex}"
    # Two budgets on one Redis stand for two workers (or two instances).
    first = RedisBudget(redis_client, 4, LocalBudget(4), prefix)
    second = RedisBudget(redis.Redis.from_url(REDIS_URL), 4, LocalBudget(4), prefix)
    # Start at the beginning of a second so the test does not straddle two windows.
    time.sleep(1.02 - time.time() % 1.0)
    taken = [first.try_take(), second.try_take(), first.try_take(), second.try_take()]
    assert taken == [True] * 4
    assert not first.try_take()
    assert not second.try_take()


def test_budget_falls_back_to_counting_in_process_when_redis_is_down() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1, socket_timeout=0.1)
    budget = RedisBudget(dead, 100, LocalBudget(2), "unused")
    time.sleep(1.02 - time.time() % 1.0)
    assert [budget.try_take() for _ in range(3)] == [True, True, False]


def test_settings_choose_redis_local_or_no_budget() -> None:
    assert budget_from_settings(Settings(stripe_call_budget=0)) is None
    local = budget_from_settings(Settings(stripe_call_budget=20, web_concurrency=4))
    assert isinstance(local, LocalBudget) and local.per_second == 5
    shared = budget_from_settings(Settings(stripe_call_budget=20, redis_url=REDIS_URL))
    assert isinstance(shared, RedisBudget) and shared.per_second == 20
