"""A budget of Stripe API calls per second, shared by every worker and instance through Redis.

Stripe measures its limits in requests per second per account, and each API operation (e.g.
``POST /v1/checkout/sessions``) has its own limit besides, 25 a second by default; past it
Stripe answers 429 (https://docs.stripe.com/rate-limits: "rate limits are measured in API
requests per second, per Stripe account"; "Individual API endpoints (unless otherwise noted):
25 requests per second"). It does not say how it cuts the seconds, so the budget assumes the
strictest reading: ``STRIPE_CALL_BUDGET`` is a ceiling on the calls that reach Stripe in *any*
one-second span, counted where Stripe counts them, on arrival.

How the ceiling holds:

* **Calls are given slots** ``(1 s + margin) / budget`` apart, with no burst (a GCRA, a leaky
  bucket kept as one timestamp: the next free slot). A caller reserves the next free slot within
  the time it may wait and sleeps until it, so waiting callers queue in order instead of polling;
  if no slot is free within its wait it learns so at once (and a donor takes the Payment Link
  without waiting in vain).
* **A call leaves within half the margin of its slot, or takes another.** Between a slot and
  the request reaching Stripe there is lag: the worker resuming the greenlet (slow on a busy
  worker), building the request, the network. Slots spaced ``(1 + margin) / budget`` apart put
  at most ``budget`` calls in any one second as long as each call's lag varies by less than the
  margin; the half this process controls is checked before sending (a call resumed too late
  takes a fresh slot instead of bunching up with the next ones), the other half is left for the
  request's way to Stripe. The price is throughput: at most ``budget / (1 + margin)`` calls a
  second on average (22.7 of 25 with the default 100 ms).
* **Every request that reaches Stripe takes a slot**, retries included: ours after a 429
  (service/donations/checkout.py goes through the gateway again) and stripe-python's own after
  a 409, a 5xx or a lost connection (the gateway's transport calls :func:`before_send`).

In Redis the reservation is one Lua script using Redis's own clock, so all instances agree
without trusting each other's clocks. If Redis is unreachable the budget is kept in this process
instead, at the rate divided by the number of worker processes, so one instance stays under the
limit while Redis is down. Redis is tried again after a short back-off rather than on every call,
so a dead Redis costs a donor nothing after the first timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from .settings import Settings

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0
# The lag (from a call's slot to Stripe receiving it) the spacing absorbs, by default.
DEFAULT_MARGIN_SECONDS = 0.1

# Reserves the next free slot if it begins within ARGV[2] microseconds: returns how many
# microseconds from now it begins (0: now), or -1 if none is free within that wait.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or now)
if slot < now then slot = now end
if slot - now > max_wait then return -1 end
local after = slot + interval
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.floor((after - now) / 1000) + 1000)
return slot - now
"""


class CallBudget(Protocol):
    def acquire(self, max_wait: float) -> bool:
        """Take one call from the budget, waiting up to ``max_wait`` seconds; False if none came."""
        ...


class CallBudgetSpent(Exception):  # noqa: N818 - the gateway turns it into StripeGatewayError
    """No slot came within the wait: the request must not be sent."""


class LocalBudget:
    """The same slots kept in this process (thread- and greenlet-safe)."""

    def __init__(
        self,
        per_second: float,
        margin: float = DEFAULT_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.per_second = max(1.0, per_second)
        self.margin = margin
        self.interval = (1.0 + margin) / self.per_second
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    def reserve(self, max_wait: float) -> float | None:
        """Seconds until the slot reserved for this call (0: now); None if none within ``max_wait``."""
        with self._lock:
            now = self.clock()
            slot = max(self._next_slot, now)
            if slot - now > max_wait:
                return None
            self._next_slot = slot + self.interval
            return slot - now

    def acquire(self, max_wait: float) -> bool:
        return _acquire(self.reserve, max_wait, self.margin / 2, self.clock, self.sleep)


class RedisBudget:
    """The slots in Redis, shared by every process; falls back to a LocalBudget while Redis is down."""

    def __init__(
        self,
        redis_client: object,
        per_second: float,
        fallback: LocalBudget,
        key: str,
        margin: float = DEFAULT_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.redis = redis_client
        self.clock = clock
        self.sleep = sleep
        self.per_second = per_second
        self.margin = margin
        self.interval_us = int(1_000_000 * (1.0 + margin) / per_second)
        self.fallback = fallback
        self.key = key
        self._script = redis_client.register_script(RESERVE_SCRIPT)  # type: ignore[attr-defined]
        self._redis_down_until = 0.0

    def reserve(self, max_wait: float) -> float | None:
        if self.clock() < self._redis_down_until:
            return self.fallback.reserve(max_wait)
        from redis.exceptions import RedisError

        try:
            wait_us = int(self._script(keys=[self.key], args=[self.interval_us, int(max_wait * 1_000_000)]))
        except RedisError as exc:
            self._redis_down_until = self.clock() + REDIS_RETRY_SECONDS
            log.warning("stripe_budget_redis_down", extra={"error": type(exc).__name__})
            return self.fallback.reserve(max_wait)
        return None if wait_us < 0 else wait_us / 1_000_000

    def acquire(self, max_wait: float) -> bool:
        return _acquire(self.reserve, max_wait, self.margin / 2, self.clock, self.sleep)


def _acquire(
    reserve: Callable[[float], float | None],
    max_wait: float,
    send_within: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> bool:
    """Reserve a slot within ``max_wait``, sleep until it, and make sure we are not late for it.

    The slot begins ``wait`` after the budget's clock was read, which was after ``asked``: if
    more than ``send_within`` has passed since ``asked + wait`` when this greenlet runs again
    (a busy worker resumes it late), the call would reach Stripe too long after its slot and
    bunch up with the calls of the next slots, so it reserves another instead. The missed slot
    stays unused: Stripe sees fewer calls, never more.
    """
    deadline = clock() + max_wait
    while True:
        asked = clock()
        wait = reserve(max(0.0, deadline - asked))
        if wait is None:
            return False
        if wait > 0:
            sleep(wait)
        late = clock() - (asked + wait)
        if send_within <= 0 or late <= send_within:  # a margin of 0 absorbs no lag: no check
            return True
        log.debug("stripe_budget_slot_missed", extra={"late_ms": round(late * 1000, 1)})


# The call this greenlet (or thread) is making through the gateway: under gunicorn's gevent
# workers threading.local is per greenlet.
_current = threading.local()


class _Call:
    __slots__ = ("budget", "max_wait", "sends")

    def __init__(self, budget: CallBudget | None, max_wait: float):
        self.budget = budget
        self.max_wait = max_wait
        self.sends = 0


@contextmanager
def first_send_paid(budget: CallBudget | None, max_wait: float) -> Iterator[None]:
    """Around one gateway call whose first request already took its slot: any request sent
    again within it (stripe-python's own retries) takes one more, see :func:`before_send`."""
    previous = getattr(_current, "call", None)
    _current.call = _Call(budget, max_wait)
    try:
        yield
    finally:
        _current.call = previous


def before_send() -> None:
    """Called by the gateway's transport right before a request leaves for Stripe.

    stripe-python resends a request by itself after a 409, a 5xx, a lost connection or a
    ``Stripe-Should-Retry: true`` header, below the gateway: each resend reaches Stripe and
    counts against its limit like any call, so it takes a slot too (or is not sent:
    CallBudgetSpent, which stripe-python does not catch)."""
    call: _Call | None = getattr(_current, "call", None)
    if call is None:
        return
    call.sends += 1
    if call.sends > 1 and call.budget is not None and not call.budget.acquire(call.max_wait):
        raise CallBudgetSpent


def budget_from_settings(settings: Settings) -> CallBudget | None:
    """The shared budget, or None when ``STRIPE_CALL_BUDGET`` is 0 (no limit)."""
    if settings.stripe_call_budget <= 0:
        return None
    margin = settings.stripe_call_budget_margin_ms / 1000
    local = LocalBudget(max(1.0, settings.stripe_call_budget / settings.web_concurrency), margin)
    if not settings.redis_url:
        return local
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.25, socket_timeout=0.25, health_check_interval=30
    )
    return RedisBudget(
        client, settings.stripe_call_budget, local, f"{settings.deployment_id}:stripe-budget", margin
    )
