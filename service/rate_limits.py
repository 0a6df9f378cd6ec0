"""Rate limits on creating donations: per client address, per network, and for the whole service.

Card testers and bots hammer exactly the endpoint that creates Checkout Sessions, and every
session costs a Stripe API call from a shared budget. Two limits refuse (a 429, or the donor's
own form with the wait in words):

* per client address (``RATE_LIMIT_DONATIONS``): a burst from one address. An IPv6 client is
  counted by its /64, the block one subscriber is given, so rotating addresses inside it gains
  nothing;
* per network (``RATE_LIMIT_DONATIONS_NETWORK``): a burst spread over many addresses of one
  IPv4 /24 or IPv6 /48, as a rented proxy block or a botnet in one hosting range sends.

The whole service's rate (``RATE_LIMIT_DONATIONS_GLOBAL``, by default the Stripe call budget a
second) refuses nobody: past it a one-off donation goes straight to its appeal's Payment Link
(surge mode, service/donations/surge.py) instead of spending a Stripe call, so a telethon's peak
of donors from everywhere is never turned away by our own limit. A monthly gift, or an appeal
without a link, takes the usual path under the Stripe call budget.

Each limit is a moving window (``10/minute`` means at most 10 in any 60 seconds). All of one
request's windows are checked and counted together, in one Redis script call when ``REDIS_URL``
is set (so every worker and instance shares the counts), else in this process. An attempt
answered before any Stripe call (``NOT_COUNTED``: a typo's 422, bad JSON) is given back
afterwards, so it does not use up the donor's limit. If Redis goes away the counts fall back to
this process instead of refusing donors (looser, never stricter) and Redis is tried again after
a few seconds. Only the declared views pay for any of this: other requests run no limiter code.

The client address is the socket peer unless ``TRUSTED_PROXY_COUNT`` says how many proxies in
front of us append to ``X-Forwarded-For``; only those hops are believed, so a client cannot pick
its own address by sending the header itself.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, after_this_request, g, request
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from . import extensions, metrics
from .errors import error_response, wants_json
from .settings import Settings

log = logging.getLogger(__name__)

MESSAGE = "Too many donation attempts in a short time. Please wait a moment and try again."
# Answers given before any Stripe call: a donor's typo or a client's bad request refused by
# validation is not an attempt on Stripe's budget, so it does not use up the donor's limit
# (eight mistyped amounts in a row must not lock a donor out). The 429 itself does not count
# either, so waiting the time the page states is enough.
NOT_COUNTED = frozenset({400, 413, 415, 422, 429})
REDIS_RETRY_SECONDS = 5.0


def counts_against_limit(response: Response) -> bool:
    """Whether an answer from a donation view uses up one of the client's attempts."""
    return response.status_code not in NOT_COUNTED


View = TypeVar("View", bound=Callable[..., Any])
DECLARED = "donation_limits"


def donation_limits(view: View) -> View:
    """Declare on a view that creates a donation (and so a Checkout Session) that the donation
    limits apply to its POSTs: per client address and per network, and the service's rate.

    Every view so declared counts against one budget, so using the API and the form alternately
    does not double it. The limits and their storage come from each app's settings:
    ``init_rate_limits`` wraps the declared views of the app being built.
    """
    setattr(view, DECLARED, True)
    return view


def _declared(view: Any) -> bool:
    # A MethodView is declared on its class; Flask's view function keeps the class as view_class.
    return bool(getattr(view, DECLARED, False) or getattr(getattr(view, "view_class", None), DECLARED, False))


# The blocks one subscriber (IPv6 /64) and one network (IPv4 /24, IPv6 /48) are usually given.
SUBSCRIBER_PREFIX_V6 = 64
NETWORK_PREFIX_V4 = 24
NETWORK_PREFIX_V6 = 48


@functools.lru_cache(maxsize=65536)
def _address_keys(address: str) -> tuple[str, str]:
    """(the client's key, its network's key) for one address; unparseable ones stand for themselves."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address, address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        network = ipaddress.IPv4Network((int(ip) >> 8 << 8, NETWORK_PREFIX_V4))
        return str(ip), str(network)
    subscriber = ipaddress.IPv6Network((int(ip) >> 64 << 64, SUBSCRIBER_PREFIX_V6))
    network = ipaddress.IPv6Network((int(ip) >> 80 << 80, NETWORK_PREFIX_V6))
    return str(subscriber), str(network)


def address_keys(remote_addr: str | None) -> tuple[str, str]:
    """(:func:`client_key`, :func:`client_network`) for a request's ``REMOTE_ADDR`` (after
    ProxyFix): for the donation fast path in front of Flask, which has no ``request``."""
    return _address_keys(remote_addr or "127.0.0.1")


def client_key() -> str:
    """The client the per-address limit counts: its IPv4 address, or its IPv6 /64."""
    return address_keys(request.remote_addr)[0]


def client_network() -> str:
    """The network the per-network limit counts: the client's IPv4 /24 or IPv6 /48."""
    return address_keys(request.remote_addr)[1]


OVER_SERVICE_RATE = "donations_over_service_rate"


def over_service_rate() -> bool:
    """Whether this donation request came past the whole service's donation rate (the view
    then prefers the appeal's Payment Link to a Stripe call)."""
    return bool(g.get(OVER_SERVICE_RATE, False))


@dataclass(frozen=True)
class Window:
    """One moving window: at most ``limit`` attempts in any ``seconds``."""

    limit: int
    seconds: int


def windows(text: str | None) -> tuple[Window, ...]:
    """``10/minute;60/hour`` as windows (the syntax settings.py checks at start-up)."""
    return tuple(Window(item.amount, item.get_expiry()) for item in parse_many(text)) if text else ()


@dataclass(frozen=True)
class Decision:
    """What the windows said about one attempt: refused (and for how long), or past the service
    rate, or neither; ``token`` gives the attempt back (:meth:`Counts.give_back`)."""

    retry_after: int | None
    over_service_rate: bool
    token: str


# KEYS: the refusing windows' keys, then the service rate's. ARGV: a unique entry for this
# attempt, the number of refusing keys, then limit and seconds for each key. Entries are
# "microseconds:nonce", newest first; a window is full when its limit-th newest entry is still
# inside it. Returns {-1 or milliseconds until the first full refusing window frees,
# 1 if past the service rate else 0}. One call, atomic: an attempt is counted in every window or,
# when refused, in none.
WINDOWS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Built from TIME's strings: Lua 5.1 would print a 16-digit number in exponent notation.
local entry = t[1] .. string.rep('0', 6 - #t[2]) .. t[2] .. ':' .. ARGV[1]
local hard = tonumber(ARGV[2])
local function full(i)
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i]) * 1000000
  local nth = redis.call('LINDEX', KEYS[i], limit - 1)
  if not nth then return nil end
  local at = tonumber(string.match(nth, '^(%d+)'))
  if at > now - window then return at + window - now end
  return nil
end
local wait = -1
for i = 1, hard do
  local left = full(i)
  if left and left > wait then wait = left end
end
if wait >= 0 then return {math.floor(wait / 1000) + 1, 0} end
local over = 0
for i = hard + 1, #KEYS do
  if full(i) then over = 1 end
end
for i = 1, #KEYS do
  if i <= hard or over == 0 then
    local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    redis.call('LPUSH', KEYS[i], entry)
    redis.call('LTRIM', KEYS[i], 0, limit - 1)
    redis.call('EXPIRE', KEYS[i], window)
  end
end
return {-1, over}
"""
# KEYS: the windows an attempt was counted in; ARGV[1]: its nonce. Removes the attempt's entry
# ("microseconds:nonce", as WINDOWS_SCRIPT wrote it) from each. A window holds at most its limit
# of entries (LTRIM), so reading it whole is cheap. (An LREM of the nonce alone matched no entry:
# with Redis, a refused attempt used up the donor's limit all the same.)
GIVE_BACK_SCRIPT = """
local suffix = ':' .. ARGV[1]
for i = 1, #KEYS do
  for _, entry in ipairs(redis.call('LRANGE', KEYS[i], 0, -1)) do
    if string.sub(entry, -#suffix) == suffix then
      redis.call('LREM', KEYS[i], 1, entry)
      break
    end
  end
end
return 0
"""


def _bulk(part: bytes) -> bytes:
    """One argument as a RESP bulk string, as redis-py's PythonRespSerializer packs it."""
    return b"$%d\r\n%s\r\n" % (len(part), part)


class LocalWindows:
    """The same windows kept in this process (the demo, tests, and while Redis is down)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._entries: dict[str, deque[tuple[float, str]]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def _full(self, key: str, window: Window, now: float) -> float | None:
        entries = self._entries.get(key)
        if entries is None or len(entries) < window.limit:
            return None
        at = entries[window.limit - 1][0]
        return at + window.seconds - now if at > now - window.seconds else None

    def take(
        self, hard: list[tuple[str, Window]], soft: list[tuple[str, Window]], token: str
    ) -> tuple[int, bool]:
        """As WINDOWS_SCRIPT: (-1 or milliseconds until a full refusing window frees, past the service rate)."""
        with self._lock:
            now = self.clock()
            self._sweep(now)
            waits = [w for key, window in hard if (w := self._full(key, window, now)) is not None]
            if waits:
                return math.floor(max(waits) * 1000) + 1, False
            over = any(self._full(key, window, now) is not None for key, window in soft)
            for key, window in [*hard, *([] if over else soft)]:
                entries = self._entries.setdefault(key, deque())
                entries.appendleft((now, token))
                while len(entries) > window.limit:
                    entries.pop()
            return -1, over

    def give_back(self, keys: list[str], token: str) -> None:
        with self._lock:
            for key in keys:
                entries = self._entries.get(key)
                if entries is not None:
                    for entry in entries:
                        if entry[1] == token:
                            entries.remove(entry)
                            break

    def _sweep(self, now: float) -> None:
        # Forget clients not seen for an hour, once a minute, so memory follows the live clients.
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        for key in [k for k, entries in self._entries.items() if not entries or entries[0][0] < now - 3600]:
            del self._entries[key]


class Counts:
    """Every donation window for this app: in Redis when configured, else (or while it is down)
    in this process."""

    def __init__(self, settings: Settings):
        self.prefix = f"{{{settings.deployment_id}:rl}}"  # one hash slot: the script's keys in one call
        self.per_address = windows(settings.rate_limit_donations)
        self.per_network = windows(settings.rate_limit_donations_network)
        self.service_rate = windows(settings.service_donation_rate)
        self.local = LocalWindows()
        self.redis: Any = None
        self._redis_down_until = 0.0
        if settings.redis_url:
            import redis

            self.redis = redis.Redis.from_url(
                # A dead Redis must cost a donor milliseconds, not the worker's whole time budget.
                settings.redis_url,
                socket_connect_timeout=0.25,
                socket_timeout=0.25,
                health_check_interval=30,
            )
            self._take = self.redis.register_script(WINDOWS_SCRIPT)
            self._give_back = self.redis.register_script(GIVE_BACK_SCRIPT)
            self._no_script = redis.exceptions.NoScriptError
            self._response_error = redis.exceptions.ResponseError
            self._pack_windows_call()

    def _keys(self, address: str, network: str) -> tuple[list[tuple[str, Window]], list[tuple[str, Window]]]:
        hard = [(f"{self.prefix}:a:{w.limit}/{w.seconds}:{address}", w) for w in self.per_address]
        hard += [(f"{self.prefix}:n:{w.limit}/{w.seconds}:{network}", w) for w in self.per_network]
        soft = [(f"{self.prefix}:s:{w.limit}/{w.seconds}", w) for w in self.service_rate]
        return hard, soft

    def take(self, address: str, network: str) -> tuple[Decision, list[str]]:
        """Check and count one attempt; returns the decision and the keys it was counted under."""
        hard, soft = self._keys(address, network)
        # 48 random bits as 12 hex digits, as uuid4().hex[:12] gave (uuid4's first 6 bytes are
        # os.urandom's, untouched by its version and variant bits) without building a UUID. The
        # token never leaves this process; it only tells this attempt's entry from others.
        token = os.urandom(6).hex()
        wait, over = self._take_redis(hard, soft, token) if self._redis_up() else (None, False)
        if wait is None:
            wait, over = self.local.take(hard, soft, token)
        counted = [] if wait >= 0 else [key for key, _ in hard] + ([] if over else [key for key, _ in soft])
        retry_after = max(1, math.ceil(wait / 1000)) if wait >= 0 else None
        return Decision(retry_after, over, token), counted

    def give_back(self, keys: list[str], token: str) -> None:
        """Uncount an attempt answered before any Stripe call."""
        if self._redis_up():
            try:
                self._give_back(keys=keys, args=[token])
                return
            except Exception as exc:  # noqa: BLE001 - a dead Redis must never cost a donation
                self._redis_failed(exc)
        self.local.give_back(keys, token)

    def reset(self) -> None:
        """Forget every count of this app (the tests' reused apps start each test afresh)."""
        self.local = LocalWindows()
        if self.redis is not None:
            try:
                for key in self.redis.scan_iter(f"{self.prefix}:*", count=1000):
                    self.redis.delete(key)
            except Exception as exc:  # noqa: BLE001 - as for counting: never fatal
                self._redis_failed(exc)
        self._redis_down_until = 0.0

    def _redis_up(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._redis_down_until

    def _take_redis(
        self, hard: list[tuple[str, Window]], soft: list[tuple[str, Window]], token: str
    ) -> tuple[int | None, bool]:
        keys = [key for key, _ in hard] + [key for key, _ in soft]
        try:
            try:
                wait, over = self._evalsha_windows(keys, token)
            except self._no_script:
                # A fresh or failed-over Redis, or SCRIPT FLUSH: NOSCRIPT ran nothing, and the
                # Script object loads the script and runs it (redis-py's own path), so the attempt
                # is still counted once.
                wait, over = self._take(keys=keys, args=[token, *self._window_args])
        except Exception as exc:  # noqa: BLE001 - a dead Redis must never cost a donation
            self._redis_failed(exc)
            return None, False
        return int(wait), bool(over)

    def _pack_windows_call(self) -> None:
        """Pack once the parts of WINDOWS_SCRIPT's EVALSHA that never change, as RESP bytes: all
        but the keys (the address's and network's vary) and the token. Each argument is encoded
        by the pool's Encoder, as redis-py's PythonRespSerializer does (ints by repr)."""
        encoder = self.redis.connection_pool.get_encoder()
        self._key_encoding = (encoder.encoding, encoder.encoding_errors)
        every = [*self.per_address, *self.per_network, *self.service_rate]
        # Script's NOSCRIPT fallback sets its sha to SCRIPT LOAD's answer: the SHA1 of the same
        # bytes, so this one stays right.
        head = ["EVALSHA", self._take.sha, len(every)]
        # WINDOWS_SCRIPT's ARGV after the token: how many windows refuse, then each one's limit
        # and seconds (the Script call, for NOSCRIPT, is given the same).
        self._window_args = [len(self.per_address) + len(self.per_network)]
        self._window_args += [n for window in every for n in (window.limit, window.seconds)]
        count = len(head) + len(every) + 1 + len(self._window_args)  # the keys, then the token
        self._evalsha_head = b"*%d\r\n" % count + b"".join(_bulk(encoder.encode(part)) for part in head)
        self._evalsha_tail = b"".join(_bulk(encoder.encode(part)) for part in self._window_args)

    def _evalsha_windows(self, keys: list[str], token: str) -> Any:
        """The reply of WINDOWS_SCRIPT's EVALSHA for ``keys`` and ``token``: the bytes
        ``self._take(keys=keys, args=...)`` sends, sent and read on a pooled connection without
        redis-py's generic command path (its observability recorder, retry wrapper and per-argument
        packing): a Counts.take costs ~58 µs of CPU instead of ~96 under gevent (local Redis,
        medians of six runs of 7x3000 calls). Raises NoScriptError as Script's first EVALSHA
        does, and the other errors redis-py's own call would.

        No retry is lost: ``Redis.from_url`` gives the pool's connections ``Retry(NoBackoff(), 0)``
        (redis-py 8.1 Connection's default; the 10 retries of ``Redis()``'s own default apply
        only to a pool it builds itself), so Script's call does not retry either.
        """
        encoding, errors = self._key_encoding
        packed = [self._evalsha_head]
        packed += [_bulk(key.encode(encoding, errors)) for key in keys]
        packed += (_bulk(token.encode(encoding, errors)), self._evalsha_tail)
        pool = self.redis.connection_pool
        connection = pool.get_connection()
        try:
            # check_health=True, as redis-py's send_command: a PING first on a connection idle for
            # health_check_interval. read_response sets the next health check, as for any command.
            connection.send_packed_command([b"".join(packed)], check_health=True)
            return connection.read_response()
        except self._response_error:
            raise  # a whole error reply was read (NOSCRIPT): the connection is in step, redis-py keeps it
        except BaseException:
            # A timeout or a broken reply may leave part of it unread: the next caller must never
            # read it as theirs. send_packed_command and read_response already disconnect on any
            # error of theirs (and redis-py's _execute_command again on ConnectionError and
            # TimeoutError); disconnecting here keeps that true whatever is raised.
            connection.disconnect()
            raise
        finally:
            # release also disconnects a connection that a maintenance notification marked for
            # reconnecting (redis-py's own call reconnects it before releasing it).
            pool.release(connection)

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("rate_limit_redis_down", extra={"error": type(exc).__name__})


# The WSGI environ key under which the donation fast paths (service/api/donation_fast_path.py,
# service/pages/form_fast_path.py) hand Flask the attempt they already counted, ``(Decision,
# keys)``, with a request whose answer is the view's (a failed donation, the form's 409): the
# limits below use it instead of counting the attempt a second time, and give it back if the
# answer is NOT_COUNTED.
TAKEN = "donation_router.donation_limits_taken"


def _limited(view: Callable[..., Any], counts: Counts, refused: Callable[[int], Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return view(*args, **kwargs)
        taken = request.environ.pop(TAKEN, None)
        decision, keys = taken if taken is not None else counts.take(client_key(), client_network())
        if decision.retry_after is not None:
            # The network, not the address: enough to spot a carrier's shared range, less personal.
            log.info("rate_limited", extra={"network": client_network(), "retry_after": decision.retry_after})
            return refused(decision.retry_after)
        setattr(g, OVER_SERVICE_RATE, decision.over_service_rate)

        @after_this_request
        def give_back_if_not_counted(response: Response) -> Response:
            if not counts_against_limit(response):
                counts.give_back(keys, decision.token)
            return response

        return view(*args, **kwargs)

    return limited


def init_rate_limits(
    app: Flask, settings: Settings, rate_limited_form: Callable[[int], tuple[str, int]]
) -> Counts:
    """Limit the views registered on ``app`` that are declared with :func:`donation_limits`; a
    donor's form refused with a 429 is ``rate_limited_form``'s page. The client address is the one
    :func:`trust_proxies` gives."""
    counts = Counts(settings)

    def refused(retry_after: int) -> Any:
        return _too_many(rate_limited_form, retry_after)

    for endpoint, view in list(app.view_functions.items()):
        if _declared(view):
            app.view_functions[endpoint] = _limited(view, counts, refused)
    extensions.set_rate_limiter(app, counts)
    return counts


def trust_proxies(app: Flask, settings: Settings) -> None:
    """Believe the ``X-Forwarded-For`` and ``-Proto`` hops of the configured proxies (ProxyFix).

    ``create_app`` installs it outside the donation fast path and inside the other WSGI layers in
    front of Flask, so that the limits count the same client address in front of Flask as in it.
    """
    if settings.trusted_proxy_count:
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def _too_many(
    rate_limited_form: Callable[[int], tuple[str, int]], retry_after: int
) -> Response | tuple[str, int, dict[str, str]]:
    metrics.rate_limited()
    if wants_json():
        return error_response(429, "rate_limited", MESSAGE, retry_after=retry_after)
    # The donor gets their own form back, in the appeal's colours, with every value kept and the
    # wait stated; resubmitting it after the wait continues the same donation (same form token).
    page, status = rate_limited_form(retry_after)
    return page, status, {"Retry-After": str(retry_after)}
