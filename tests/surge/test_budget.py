"""The shared Stripe call budget: a ceiling in any one-second span, shared through Redis, local when
Redis is down."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from service.settings import Settings
from service.stripe_budget import REDIS_RETRY_SECONDS, LocalBudget, RedisBudget, budget_from_settings
from tests.support.budgets import Clock

REDIS_URL = "redis://127.0.0.1:6379/0"


def busiest_second(times: list[float]) -> int:
    """Most of ``times`` in any span shorter than one second (how Stripe's limiter would count)."""
    times = sorted(times)
    start, busiest = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


class LateClock(Clock):
    """A busy worker: a sleeping greenlet is resumed ``late`` seconds after it asked."""

    def __init__(self, late: float):
        super().__init__()
        self.late = late

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.now += self.late


def test_calls_are_spaced_a_second_and_the_margin_over_the_budget_apart_with_no_burst() -> None:
    clock = Clock()
    budget = LocalBudget(20, margin=0.1, clock=clock)  # 55 ms apart
    assert budget.reserve(0) == 0
    assert budget.reserve(0) is None  # no second call at once: no burst
    assert budget.reserve(1.0) == pytest.approx(0.055)  # the next slot, reserved
    assert budget.reserve(1.0) == pytest.approx(0.110)  # and the one after: waiters queue in order
    clock.now += 0.165
    assert budget.reserve(0) == 0


def test_no_one_second_span_holds_more_than_the_budget() -> None:
    clock = Clock()
    budget = LocalBudget(20, margin=0.0, clock=clock)
    taken = []
    for step in range(400):  # callers trying every 10 ms for 4 s
        clock.now = 1000.0 + step / 100
        if budget.reserve(0) == 0:
            taken.append(clock.now)
    assert busiest_second(taken) == 20
    assert len(taken) == 80


def test_acquire_sleeps_until_its_slot() -> None:
    clock = Clock()
    budget = LocalBudget(2, margin=0.0, clock=clock, sleep=clock.sleep)  # 500 ms apart
    assert budget.acquire(0)
    assert clock.slept == []
    assert budget.acquire(1.0)
    assert clock.slept == [pytest.approx(0.5)]  # one pause, exactly until its slot


def test_acquire_gives_up_at_once_when_no_slot_is_free_within_its_wait() -> None:
    clock = Clock()
    budget = LocalBudget(1, margin=0.0, clock=clock, sleep=clock.sleep)
    assert budget.acquire(0)
    assert not budget.acquire(0.2)
    assert clock.slept == []  # it knew its slot was 1 s away and did not sleep in vain
    clock.now += 1.0
    assert budget.acquire(0)


def test_a_call_resumed_too_late_for_its_slot_takes_another_rather_than_bunch_up() -> None:
    clock = LateClock(late=0.2)
    budget = LocalBudget(10, margin=0.1, clock=clock, sleep=clock.sleep)  # 110 ms apart, 50 ms late at most
    assert budget.acquire(0)  # slot now, nothing slept: on time
    assert budget.acquire(1.0)
    # It slept 110 ms for its slot and woke 200 ms late: sent then, it would reach Stripe in
    # the next call's slot. It took the next free slot instead, which was now (no sleep).
    assert clock.slept == [pytest.approx(0.11)]
    assert budget.reserve(0) is None and budget.reserve(1.0) == pytest.approx(0.11)


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
    first = RedisBudget(redis_client, 4, LocalBudget(4), key, margin=0.0)
    second = RedisBudget(redis.Redis.from_url(REDIS_URL), 4, LocalBudget(4), key, margin=0.0)
    assert first.reserve(0) == 0
    assert second.reserve(0) is None
    assert 0.2 < second.reserve(1.0) <= 0.25  # the other worker's next slot, 250 ms on
    assert first.acquire(0.6)  # the one after, 500 ms on: it sleeps until then
    assert 0.2 < second.reserve(1.0) <= 0.25


def test_workers_taking_budget_at_once_never_put_more_than_it_in_any_second(
    redis_client: redis.Redis,
) -> None:
    """Twelve threads on two budgets sharing one Redis key (two workers), each sending as soon
    as it gets a slot: what they would send never exceeds the budget in any sliding second."""
    key = f"test-budget-{uuid.uuid4().hex}"
    per_second, margin = 10, 0.1
    workers = [
        RedisBudget(redis.Redis.from_url(REDIS_URL), per_second, LocalBudget(5), key, margin=margin)
        for _ in range(2)
    ]
    sent: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0

    def donor(budget: RedisBudget) -> None:
        while time.monotonic() < stop_at:
            if budget.acquire(0.5):
                with lock:
                    sent.append(time.monotonic())

    threads = [threading.Thread(target=donor, args=(workers[n % 2],)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert busiest_second(sent) <= per_second
    # ... while still sending (the spacing allows 10 / 1.1 a second for 3 s, 27; fewer on a busy
    # machine, where threads resumed late for their slots take others).
    assert len(sent) >= 10


def test_budget_falls_back_to_counting_in_process_when_redis_is_down() -> None:
    clock = Clock()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1, socket_timeout=0.1)
    budget = RedisBudget(dead, 100, LocalBudget(2, clock=clock), "unused", clock=clock)
    asked = []
    script = budget._script
    budget._script = lambda **kwargs: asked.append(clock.now) or script(**kwargs)  # type: ignore[method-assign]
    assert budget.reserve(0) == 0
    assert budget.reserve(0) is None  # the local rate (2 a second) now applies
    clock.now += REDIS_RETRY_SECONDS - 0.01
    budget.reserve(0)
    assert asked == [1000.0]  # Redis is not asked again for a while
    clock.now += 0.01
    budget.reserve(0)
    assert asked == [1000.0, 1000.0 + REDIS_RETRY_SECONDS]  # then it is tried again


def test_settings_choose_redis_local_or_no_budget() -> None:
    assert budget_from_settings(Settings(stripe_call_budget=0)) is None
    local = budget_from_settings(Settings(stripe_call_budget=20, web_concurrency=4))
    assert isinstance(local, LocalBudget) and local.per_second == 5
    assert local.interval == pytest.approx(1.1 / 5)
    shared = budget_from_settings(
        Settings(stripe_call_budget=20, redis_url=REDIS_URL, stripe_call_budget_margin_ms=250)
    )
    assert isinstance(shared, RedisBudget) and shared.per_second == 20
    assert shared.interval_us == 62_500  # (1 s + 250 ms) / 20
