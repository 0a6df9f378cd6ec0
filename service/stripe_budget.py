"""A budget of Stripe API calls per second, shared by every worker and instance through Redis.

Stripe allows about 25 requests per second per endpoint by default; going over costs 429s, and
on a telethon night 429s cost donations. Every call through the gateway first takes one unit of
this budget. The window is one wall-clock second: a Redis counter per second (``INCR`` then
``EXPIRE``), so all processes agree on the window without talking to each other.

If Redis is unreachable the budget is counted in this process instead, at the budget divided by
the number of worker processes, so a single instance stays under the limit while Redis is down.
Redis is tried again after a short back-off rather than on every call, so a dead Redis costs a
donor nothing after the first timeout.
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


class CallBudget(Protocol):
    def acquire(self, max_wait: float) -> bool:
        """Take one call from the budget, waiting up to ``max_wait`` seconds; False if none came."""
        ...


class LocalBudget:
    """Fixed one-second windows counted in this process (thread- and greenlet-safe)."""

    def __init__(self, per_second: int, clock: Callable[[], float] = time.time):
        self.per_second = max(1, per_second)
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._used = 0

    def try_take(self) -> bool:
        with self._lock:
            window = int(self.clock())
            if window != self._window:
                self._window, self._used = window, 0
            if self._used >= self.per_second:
                return False
            self._used += 1
            return True

    def acquire(self, max_wait: float) -> bool:
        return _wait_for(self.try_take, max_wait, self.clock)


class RedisBudget:
    """One counter per second in Redis; falls back to a LocalBudget while Redis is down."""

    def __init__(self, redis_client: object, per_second: int, fallback: LocalBudget, prefix: str):
        self.redis = redis_client
        self.per_second = per_second
        self.fallback = fallback
        self.prefix = prefix
        self._redis_down_until = 0.0

    def try_take(self) -> bool:
        if time.monotonic() < self._redis_down_until:
            return self.fallback.try_take()
        from redis.exceptions import RedisError

        key = f"{self.prefix}:{int(time.time())}"
        try:
            pipe = self.redis.pipeline()  # type: ignore[attr-defined]
            pipe.incr(key)
            pipe.expire(key, 2)
            used, _ = pipe.execute()
        except RedisError as exc:
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("stripe_budget_redis_down", extra={"error": type(exc).__name__})
            return self.fallback.try_take()
        return int(used) <= self.per_second

    def acquire(self, max_wait: float) -> bool:
        return _wait_for(self.try_take, max_wait, time.time)


def _wait_for(take: Callable[[], bool], max_wait: float, clock: Callable[[], float]) -> bool:
    """Try now, then at the start of each following second until ``max_wait`` runs out."""
    deadline = time.monotonic() + max_wait
    while True:
        if take():
            return True
        now = clock()
        # Sleep to just past the next window, spread a little so waiters do not stampede it.
        pause = (1.0 - (now % 1.0)) + 0.001 + (hash(threading.get_ident()) % 50) / 1000
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)


def budget_from_settings(settings: Settings) -> CallBudget | None:
    """The shared budget, or None when ``STRIPE_CALL_BUDGET`` is 0 (no limit)."""
    if settings.stripe_call_budget <= 0:
        return None
    local = LocalBudget(max(1, settings.stripe_call_budget // settings.web_concurrency))
    if not settings.redis_url:
        return local
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.25, socket_timeout=0.25, health_check_interval=30
    )
    return RedisBudget(client, settings.stripe_call_budget, local, f"{settings.deployment_id}:stripe-budget")
