"""A budget of Stripe API calls per second, shared by every worker and instance through Redis.

Stripe allows about 25 requests per second per endpoint by default; going over costs 429s, and
on a telethon night 429s cost donations. Every call through the gateway first takes one unit of
this budget.

The budget is a GCRA (generic cell rate algorithm, a leaky bucket kept as one timestamp): calls
are spaced ``1 / rate`` apart with a small burst allowance, so *any* one-second span holds at most
``rate + burst`` calls. A fixed per-second counter would allow twice the rate across a window
boundary, and Stripe's limiter does not share our boundaries. In Redis the check is one Lua
script using Redis's own clock, so all instances agree without trusting each other's clocks.

If Redis is unreachable the budget is kept in this process instead, at the rate divided by the
number of worker processes, so one instance stays under the limit while Redis is down. Redis is
tried again after a short back-off rather than on every call, so a dead Redis costs a donor
nothing after the first timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .settings import Settings

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0
# The burst allowance, as a share of one second's budget: small, so calls stay evenly spaced.
BURST_SHARE = 0.1

# Returns 0 when the call may go now, else how many microseconds until it may.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local allowance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > allowance then return tat - now - allowance end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.floor((tat + interval - now) / 1000) + 1000)
return 0
"""


class CallBudget(Protocol):
    def acquire(self, max_wait: float) -> bool:
        """Take one call from the budget, waiting up to ``max_wait`` seconds; False if none came."""
        ...


def _burst(per_second: float) -> int:
    return max(1, int(per_second * BURST_SHARE))


class LocalBudget:
    """The same GCRA kept in this process (thread- and greenlet-safe)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.per_second = max(1.0, per_second)
        self.interval = 1.0 / self.per_second
        self.allowance = self.interval * (_burst(self.per_second) - 1)
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tat = 0.0

    def try_take(self) -> float:
        """0 if the call may go now, else the seconds until it may."""
        with self._lock:
            now = self.clock()
            tat = max(self._tat, now)
            if tat - now > self.allowance:
                return tat - now - self.allowance
            self._tat = tat + self.interval
            return 0.0

    def acquire(self, max_wait: float) -> bool:
        return _wait_for(self.try_take, max_wait, self.clock, self.sleep)


class RedisBudget:
    """The GCRA in Redis, shared by every process; falls back to a LocalBudget while Redis is down."""

    def __init__(
        self,
        redis_client: object,
        per_second: float,
        fallback: LocalBudget,
        key: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.redis = redis_client
        self.clock = clock
        self.sleep = sleep
        self.per_second = per_second
        self.interval_us = int(1_000_000 / per_second)
        self.allowance_us = self.interval_us * (_burst(per_second) - 1)
        self.fallback = fallback
        self.key = key
        self._script = redis_client.register_script(GCRA_SCRIPT)  # type: ignore[attr-defined]
        self._redis_down_until = 0.0

    def try_take(self) -> float:
        if self.clock() < self._redis_down_until:
            return self.fallback.try_take()
        from redis.exceptions import RedisError

        try:
            wait_us = int(self._script(keys=[self.key], args=[self.interval_us, self.allowance_us]))
        except RedisError as exc:
            self._redis_down_until = self.clock() + REDIS_RETRY_SECONDS
            log.warning("stripe_budget_redis_down", extra={"error": type(exc).__name__})
            return self.fallback.try_take()
        return wait_us / 1_000_000

    def acquire(self, max_wait: float) -> bool:
        return _wait_for(self.try_take, max_wait, self.clock, self.sleep)


def _wait_for(
    take: Callable[[], float],
    max_wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> bool:
    """Take now, or sleep until the budget says the next call may go, within ``max_wait``."""
    deadline = clock() + max_wait
    while True:
        wait = take()
        if wait <= 0:
            return True
        # Others are waiting for the same moment: a little jitter keeps them from colliding.
        pause = wait + (threading.get_ident() % 7) / 1000
        if clock() + pause > deadline:
            return False
        sleep(pause)


def budget_from_settings(settings: Settings) -> CallBudget | None:
    """The shared budget, or None when ``STRIPE_CALL_BUDGET`` is 0 (no limit)."""
    if settings.stripe_call_budget <= 0:
        return None
    local = LocalBudget(max(1.0, settings.stripe_call_budget / settings.web_concurrency))
    if not settings.redis_url:
        return local
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.25, socket_timeout=0.25, health_check_interval=30
    )
    return RedisBudget(client, settings.stripe_call_budget, local, f"{settings.deployment_id}:stripe-budget")
