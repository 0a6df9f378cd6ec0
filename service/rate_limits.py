"""Rate limits on creating donations: per client address, per network, and for the whole service.

Card testers and bots hammer exactly the endpoint that creates Checkout Sessions, and every
session costs a Stripe API call from a shared budget. Two limits refuse (a 429, or the donor's
own form with the wait in words):

* per client address (``RATE_LIMIT_DONATIONS``): a burst from one address. An IPv6 client is
  counted by its /64, the block one subscriber is given, so rotating addresses inside it gains
  nothing;
* per network (``RATE_LIMIT_DONATIONS_NETWORK``): a burst spread over many addresses of one
  IPv4 /24 or IPv6 /48, as a rented proxy block or a botnet in one hosting range sends.

The whole service's rate (``RATE_LIMIT_DONATIONS_GLOBAL``) refuses nobody: past it a one-off
donation goes straight to its appeal's Payment Link (surge mode, service/donations/surge.py)
instead of spending a Stripe call, so a telethon's peak of donors from everywhere is never
turned away by our own limit. A monthly gift, or an appeal without a link, takes the usual path
under the Stripe call budget.

Flask-Limiter counts in Redis when ``REDIS_URL`` is set, so all workers and instances share one
count; if Redis goes away it falls back to counting in this process instead of refusing donors
(the limits then apply per worker, which is looser but never blocks a real donor), and checks
Redis again with back-off.

The client address is the socket peer unless ``TRUSTED_PROXY_COUNT`` says how many proxies in
front of us append to ``X-Forwarded-For``; only those hops are believed, so a client cannot pick
its own address by sending the header itself.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from flask_limiter import Limit, Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from . import extensions, metrics
from .errors import error_response, wants_json
from .settings import Settings

MESSAGE = "Too many donation attempts in a short time. Please wait a moment and try again."
# Answers given before any Stripe call: a donor's typo or a client's bad request refused by
# validation is not an attempt on Stripe's budget, so it does not use up the donor's limit
# (eight mistyped amounts in a row must not lock a donor out). The 429 itself does not count
# either, so waiting the time the page states is enough.
NOT_COUNTED = frozenset({400, 413, 415, 422, 429})


def counts_against_limit(response: Response) -> bool:
    """Whether an answer from a donation view uses up one of the client's attempts."""
    return response.status_code not in NOT_COUNTED


View = TypeVar("View", bound=Callable[..., Any])
DECLARED = "donation_limits"


def donation_limits(view: View) -> View:
    """Declare on a view that creates a donation (and so a Checkout Session) that the donation
    limits apply to its POSTs: per client address and for the whole service.

    Every view so declared counts against one budget, so using the API and the form alternately
    does not double it. The limits and their storage come from each app's settings, so
    ``init_rate_limits`` puts Flask-Limiter's ``shared_limit`` decorators on the declared views
    of the app being built.
    """
    setattr(view, DECLARED, True)
    return view


def _declared(view: Any) -> bool:
    # A MethodView is declared on its class; Flask's view function keeps the class as view_class.
    return bool(getattr(view, DECLARED, False) or getattr(getattr(view, "view_class", None), DECLARED, False))


log = logging.getLogger(__name__)

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


def client_key() -> str:
    """The client the per-address limit counts: its IPv4 address, or its IPv6 /64."""
    return _address_keys(get_remote_address())[0]


def client_network() -> str:
    """The network the per-network limit counts: the client's IPv4 /24 or IPv6 /48."""
    return _address_keys(get_remote_address())[1]


OVER_SERVICE_RATE = "donations_over_service_rate"


def over_service_rate() -> bool:
    """Whether this donation request came past the whole service's donation rate (the view
    then prefers the appeal's Payment Link to a Stripe call)."""
    return bool(g.get(OVER_SERVICE_RATE, False))


class ServiceRate:
    """The whole service's donation rate, kept beside the other limits' counts (Redis when set).

    Counting is one moving-window ``hit`` per limit: attempts past the rate are not counted, so
    the rate measures what went the usual way. Every attempt that passed the per-address and
    per-network limits counts, a refused-by-validation one included: this rate refuses nobody,
    so a flood of bad requests can only send donors to the Payment Link sooner.
    """

    def __init__(self, limiter: Limiter, limits: str, key_prefix: str):
        self.limiter = limiter
        self.items: list[RateLimitItem] = parse_many(limits)
        self.key = (key_prefix, "all-clients", "donations-global")
        self.fallback = MovingWindowRateLimiter(MemoryStorage())

    def take(self) -> bool:
        """Count one donation attempt; False when the rate is already reached."""
        try:
            strategy = self.limiter.limiter  # Flask-Limiter's in-memory fallback while Redis is down
            return all(strategy.hit(item, *self.key) for item in self.items)
        except Exception:  # noqa: BLE001 - a dead Redis must never cost a donation
            log.warning("service_rate_storage_unreachable", exc_info=True)
            return all(self.fallback.hit(item, *self.key) for item in self.items)


def _counting_service_rate(view: Callable[..., Any], rate: ServiceRate) -> Callable[..., Any]:
    @functools.wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Any:
        if request.method == "POST":
            setattr(g, OVER_SERVICE_RATE, not rate.take())
        return view(*args, **kwargs)

    return counted


def make_limiter(app: Flask, settings: Settings, donation_endpoints: frozenset[str]) -> Limiter:
    storage_uri = settings.redis_url or "memory://"
    options: dict[str, Any] = {}
    if settings.redis_url:
        # A dead Redis must cost a donor milliseconds, not the worker's whole time budget.
        options = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
    limiter = Limiter(
        client_key,
        app=app,
        storage_uri=storage_uri,
        storage_options=options,
        strategy="moving-window",
        key_prefix=f"{settings.deployment_id}:rl",
        in_memory_fallback_enabled=True,
        in_memory_fallback=[
            settings.rate_limit_donations,
            Limit(
                settings.rate_limit_donations_network,
                key_function=client_network,
                scope="donations-network",
                shared=True,
            ),
        ],
        swallow_errors=True,
        # Off: Flask-Limiter would overwrite the Retry-After of our own 503s (Stripe busy) with
        # its window's reset time. The 429 handler below sets Retry-After itself.
        headers_enabled=False,
    )

    def not_a_donation() -> bool:
        # Also keeps the in-memory fallback limits, which Flask-Limiter applies to every request
        # while Redis is down, off page views and webhooks.
        return request.method != "POST" or request.endpoint not in donation_endpoints

    limiter.request_filter(not_a_donation)
    return limiter


def init_rate_limits(
    app: Flask, settings: Settings, rate_limited_form: Callable[[int], tuple[str, int]]
) -> Limiter:
    """Trust the configured proxies, then limit the views registered on ``app`` that are declared
    with :func:`donation_limits`; a donor's form refused with a 429 is ``rate_limited_form``'s page."""
    if settings.trusted_proxy_count:
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    declared = frozenset(endpoint for endpoint, view in app.view_functions.items() if _declared(view))
    limiter = make_limiter(app, settings, declared)
    # With deduct_when Flask-Limiter tests the limit before the view and counts the attempt
    # after it, from the answer (flask_limiter/_extension.py, __check_conditional_deductions).
    per_address = limiter.shared_limit(
        settings.rate_limit_donations, scope="donations", deduct_when=counts_against_limit
    )
    per_network = limiter.shared_limit(
        settings.rate_limit_donations_network,
        scope="donations-network",
        key_func=client_network,
        deduct_when=counts_against_limit,
    )
    # Counted inside the refusing limits: an attempt they refuse never reaches the service rate.
    rate = settings.service_donation_rate
    service_rate = ServiceRate(limiter, rate, f"{settings.deployment_id}:rl") if rate else None
    for endpoint in declared:
        view = app.view_functions[endpoint]
        if service_rate is not None:
            view = _counting_service_rate(view, service_rate)
        app.view_functions[endpoint] = per_network(per_address(view))
    extensions.set_rate_limiter(app, limiter)

    def too_many(_exc: RateLimitExceeded) -> Response | tuple[str, int, dict[str, str]]:
        return _too_many(rate_limited_form)

    app.register_error_handler(RateLimitExceeded, too_many)
    return limiter


def _retry_after(app_limiter: Limiter | None) -> int:
    current = app_limiter.current_limit if app_limiter else None
    if current is None:
        return 60
    # The moving window's reset time is rounded to whole seconds; never promise more than a window.
    return max(1, min(math.ceil(current.reset_at - time.time()), current.limit.get_expiry()))


def _too_many(
    rate_limited_form: Callable[[int], tuple[str, int]],
) -> Response | tuple[str, int, dict[str, str]]:

    retry_after = _retry_after(extensions.rate_limiter())
    metrics.rate_limited()
    if wants_json():
        return error_response(429, "rate_limited", MESSAGE, retry_after=retry_after)
    # The donor gets their own form back, in the appeal's colours, with every value kept and the
    # wait stated; resubmitting it after the wait continues the same donation (same form token).
    page, status = rate_limited_form(retry_after)
    return page, status, {"Retry-After": str(retry_after)}
