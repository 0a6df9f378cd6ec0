"""The shared Stripe call budget: per-second windows, shared through Redis, local when Redis is down."""

from __future__ import annotations

import uuid

import pytest
import redis

from service.settings import Settings
from service.stripe_budget import REDIS_RETRY_SECONDS, LocalBudget, RedisBudget, budget_from_settings
from tests.support.budgets import Clock

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_local_budget_spaces_calls_evenly_after_a_small_burst() -> None:
    clock = Clock()
    budget = LocalBudget(20, clock=clock)  # 50 ms apart, a burst of 2
    assert [budget.try_take() == 0 for _ in range(3)] == [True, True, False]
    assert budget.try_take() == pytest.approx(0.05)
    clock.now += 0.05
    assert budget.try_take() == 0


def test_no_one_second_span_holds_more_than_the_budget_and_its_burst() -> None:
    clock = Clock()
    budget = LocalBudget(20, clock=clock)
    taken = []
    for step in range(400):  # callers trying every 10 ms for 4 s
        clock.now = 1000.0 + step / 100
        if budget.try_take() == 0:
            taken.append(clock.now)
    busiest = max(sum(1 for t in taken if start <= t < start + 1) for start in taken)
    assert busiest <= 22


def test_acquire_waits_for_its_turn_when_allowed_to() -> None:
    clock = Clock()
    budget = LocalBudget(2, clock=clock, sleep=clock.sleep)  # 500 ms apart
    assert budget.acquire(0)
    assert clock.slept == []
    assert budget.acquire(1.0)
    # One pause until its turn, plus at most 6 ms of jitter that keeps waiters apart.
    [pause] = clock.slept
    assert 0.5 <= pause <= 0.507


def test_acquire_gives_up_without_waiting_past_its_limit() -> None:
    clock = Clock()
    budget = LocalBudget(1, clock=clock, sleep=clock.sleep)
    assert budget.acquire(0)
    assert not budget.acquire(0.2)
    assert clock.slept == []  # it knew its turn was 1 s away and did not sleep at all
    clock.now += 1.0
    assert budget.acquire(0)


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (tests/surge needs it)", pytrace=False)
    return client


def test_two_processes_share_one_budget_in_redis(redis_client: redis.Redis) -> None:
    key = f"test-budget-{uuid.uuid4().hex}"
    # Two budgets on one Redis stand for two workers (or two instances): 4 a second, 250 ms apart.
    first = RedisBudget(redis_client, 4, LocalBudget(4), key)
    second = RedisBudget(redis.Redis.from_url(REDIS_URL), 4, LocalBudget(4), key)
    assert first.try_take() == 0
    assert 0.2 < second.try_take() <= 0.25
    assert first.acquire(0.5)  # its turn comes 250 ms later
    assert second.try_take() > 0.2


def test_budget_falls_back_to_counting_in_process_when_redis_is_down() -> None:
    clock = Clock()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1, socket_timeout=0.1)
    budget = RedisBudget(dead, 100, LocalBudget(2, clock=clock), "unused", clock=clock)
    asked = []
    script = budget._script
    budget._script = lambda **kwargs: asked.append(clock.now) or script(**kwargs)  # type: ignore[method-assign]
    assert budget.try_take() == 0
    assert budget.try_take() > 0  # the local rate (2 a second) now applies
    clock.now += REDIS_RETRY_SECONDS - 0.01
    budget.try_take()
    assert asked == [1000.0]  # Redis is not asked again for a while
    clock.now += 0.01
    budget.try_take()
    assert asked == [1000.0, 1000.0 + REDIS_RETRY_SECONDS]  # then it is tried again


def test_settings_choose_redis_local_or_no_budget() -> None:
    assert budget_from_settings(Settings(stripe_call_budget=0)) is None
    local = budget_from_settings(Settings(stripe_call_budget=20, web_concurrency=4))
    assert isinstance(local, LocalBudget) and local.per_second == 5
    shared = budget_from_settings(Settings(stripe_call_budget=20, redis_url=REDIS_URL))
    assert isinstance(shared, RedisBudget) and shared.per_second == 20
