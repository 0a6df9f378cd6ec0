"""The only module that talks to Stripe.

A thin interface over one ``stripe.StripeClient`` with an explicit timeout, bounded retries,
a pinned API version and a shared HTTP connection pool. It returns plain dataclasses and raises
:class:`StripeGatewayError` with a category the domain can act on; Stripe's own exception text
never travels further than the log line written here.
"""

from __future__ import annotations

import email.parser
import functools
import http.client
import logging
import os
import re
import select
import sys
import time
import types
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import stripe
import stripe._api_requestor
import stripe._util
import urllib3
import urllib3.connection
from stripe._error import APIConnectionError

from .metrics import observe_stripe_call
from .settings import Settings
from .stripe_budget import CallBudget, CallBudgetSpent, before_send, budget_from_settings, first_send_paid

log = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
# An operator's command may wait its turn in the call budget far longer than a donor would.
OPERATOR_BUDGET_WAIT = 30.0


def _formatted_only_when_written(write: Any, level: int) -> Any:
    """stripe-python's ``log_info``/``log_debug`` as they are, but called only when the line would be
    written somewhere.

    stripe-python formats every request's log lines (``logfmt`` of the URL, and at debug level of
    the whole response body, searched with a regular expression) before asking whether anything
    will print or log them (stripe/_util.py). The service keeps the ``stripe`` logger at WARNING
    (service/logging_setup.py), so that work is thrown away on every call: 1.4 % of a donation's
    CPU in a gevent worker (bench/README.md). Anyone who turns stripe-python's logging on, through
    ``stripe.log``, ``STRIPE_LOG`` or the ``stripe`` logger's level, gets exactly its lines.
    """
    logger = logging.getLogger("stripe")

    def write_if_wanted(message: str, **params: Any) -> None:
        # stripe-python's own tests, as its log functions make them: printed when its console
        # level (stripe.log or STRIPE_LOG) is on, logged when its logger takes the level.
        if stripe._util._console_log_level() is not None or logger.isEnabledFor(level):  # noqa: SLF001
            write(message, **params)

    return write_if_wanted


# The request code imported the two functions by name (``from stripe._util import log_info``): its
# module's names are the ones to replace. Once, at import, for every client in the process.
if not hasattr(stripe._api_requestor.log_info, "__wrapped_by_gateway__"):
    for _name, _level in (("log_info", logging.INFO), ("log_debug", logging.DEBUG)):
        _lazy = _formatted_only_when_written(getattr(stripe._api_requestor, _name), _level)
        _lazy.__wrapped_by_gateway__ = True  # type: ignore[attr-defined]
        setattr(stripe._api_requestor, _name, _lazy)


# Quoting a form field is a pure function of its text, and almost every field stripe-python
# sends for a donation was sent before: the keys (``line_items[0][price_data][currency]``,
# ``metadata[donation_id]``...) every time, most values (the appeal's name, its URLs, "gbp") for
# every donation to that appeal. urllib's ``quote_plus`` works through each byte in Python once a
# string holds anything to escape, as every bracketed key does: ``urlencode`` of a Checkout
# Session's 24 fields was about 180 µs, 8 % of a donation's CPU (bench/README.md); remembered,
# about 30 µs. Output is urllib's own by construction: this only remembers ``quote_plus``'s
# answers (``FORM_QUOTE_MEMORY`` of the latest distinct strings: a donation's few new ones, its
# id and cancel URL, take turns at the bottom while the shared ones stay). A string with an "@" in
# it is never remembered: a donor's email address stays in memory no longer than their request.
FORM_QUOTE_MEMORY = 4096
_quote_plus_remembered = functools.lru_cache(maxsize=FORM_QUOTE_MEMORY)(urllib.parse.quote_plus)


def _quote_form_field(
    string: Any, safe: str = "", encoding: str | None = None, errors: str | None = None
) -> str:
    """``urllib.parse.quote_plus``, remembered for a ``str`` quoted as ``urlencode`` quotes it by default."""
    if type(string) is str and "@" not in string and not safe and encoding is None and errors is None:
        return _quote_plus_remembered(string)
    return urllib.parse.quote_plus(string, safe, encoding, errors)


def _urlencode(query: Any, doseq: bool = False, safe: str = "", encoding: str | None = None,
               errors: str | None = None, quote_via: Any = urllib.parse.quote_plus) -> str:  # fmt: skip
    """``urllib.parse.urlencode`` with ``quote_plus`` remembered (above): the request code's own
    name for it (``from urllib.parse import urlencode``) is replaced, as the log functions are."""
    if quote_via is urllib.parse.quote_plus:
        quote_via = _quote_form_field
    return urllib.parse.urlencode(query, doseq, safe, encoding, errors, quote_via)


if stripe._api_requestor.urlencode is urllib.parse.urlencode:
    stripe._api_requestor.urlencode = _urlencode


# stripe-python names the AI coding agent it runs under, if any, in every request's User-Agent:
# it looks up a dozen environment variables (CLAUDECODE, CURSOR_AGENT...) through ``os.environ``
# on every call (``_APIRequestor._detect_ai_agent``), about 8 µs, 0.4 % of a donation's CPU
# (bench/README.md). A worker's environment does not change while it serves, so the answer for
# ``os.environ`` is found once per process; any other mapping is still looked at each time.
_detect_ai_agent_each_time = stripe._api_requestor._APIRequestor._detect_ai_agent


@functools.cache
def _ai_agent_of_this_process() -> str:
    return _detect_ai_agent_each_time(os.environ)


def _detect_ai_agent(environ: Mapping[str, str]) -> str:
    """stripe-python's ``_detect_ai_agent``, remembered for the process's own environment."""
    if environ is os.environ:
        return _ai_agent_of_this_process()
    return _detect_ai_agent_each_time(environ)


if not hasattr(_detect_ai_agent_each_time, "__wrapped_by_gateway__"):
    _detect_ai_agent.__wrapped_by_gateway__ = True  # type: ignore[attr-defined]
    stripe._api_requestor._APIRequestor._detect_ai_agent = staticmethod(_detect_ai_agent)  # type: ignore[method-assign,assignment]


class StripeGatewayError(Exception):
    """Stripe could not do what we asked.

    ``kind`` is one of: ``unavailable`` (network error, timeout, 5xx: retry later),
    ``rate_limited`` (429: retry shortly), ``rejected`` (Stripe refused the request: our bug or
    bad data, retrying will not help), ``auth`` (our key is wrong: an operator must act).
    """

    def __init__(self, kind: str, code: str | None, safe_message: str, retry_after: int | None = None):
        super().__init__(f"{kind}: {code or 'no code'}")
        self.kind = kind
        self.code = code
        self.safe_message = safe_message
        self.retry_after = retry_after


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str | None
    payment_status: str | None
    mode: str | None
    amount_total: int | None
    currency: str | None
    expires_at: datetime | None
    payment_intent_id: str | None
    subscription_id: str | None
    customer_id: str | None
    client_reference_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    livemode: bool = False
    # The address the donor gave on Checkout (customer_details.email): where their receipt goes.
    customer_email: str | None = None

    @classmethod
    def from_stripe(cls, obj: Any) -> CheckoutSession:
        data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        return cls(
            id=data["id"],
            url=data.get("url"),
            status=data.get("status"),
            payment_status=data.get("payment_status"),
            mode=data.get("mode"),
            amount_total=data.get("amount_total"),
            currency=data.get("currency"),
            expires_at=(datetime.fromtimestamp(data["expires_at"], UTC) if data.get("expires_at") else None),
            payment_intent_id=_id_of(data.get("payment_intent")),
            subscription_id=_id_of(data.get("subscription")),
            customer_id=_id_of(data.get("customer")),
            client_reference_id=data.get("client_reference_id"),
            metadata=dict(data.get("metadata") or {}),
            livemode=bool(data.get("livemode")),
            customer_email=(data.get("customer_details") or {}).get("email"),
        )


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


# One header line as the email parser behind ``http.client.parse_headers`` reads it when nothing
# about it is unusual: a name of the characters it allows, a colon, and printable ASCII.
_PLAIN_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([\t\x20-\x7e]*)\r?\n")


def _parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` for a response from Stripe: the same message, made directly.

    The standard one hands the header block to the email package's general parser (folded lines,
    mailbox ``From`` lines, defects), which cost about 60 µs a response from the sandbox and more
    from Stripe, which sends about 17 headers: a tenth of a donation's Stripe call (bench/README.md).
    When every line is plain (``_PLAIN_HEADER``) and the block ends with its blank line, the
    message is built as that parser builds it under the ``compat32`` policy (its
    ``header_source_parse``: the name as sent, the value without leading blanks or the line end,
    an empty payload); anything else goes to the standard parser, as does a Content-Type of
    ``message/*`` or ``multipart/*``, which sends that parser down other paths (a nested message,
    defects for missing parts). The lines are read by http.client's own reader, with its limits
    on line length and count. (sandbox/server.py: ``quick_message`` is the same for requests; the
    sandbox imports nothing from service/.)
    """
    lines = http.client._read_headers(fp)  # noqa: SLF001 - parse_headers' own reader
    fields = []
    if lines[-1] in (b"\r\n", b"\n"):
        for line in lines[:-1]:
            plain = _PLAIN_HEADER.fullmatch(line.decode("iso-8859-1"))
            if plain is None:
                break
            fields.append((plain[1], plain[2]))
        else:
            message = _class()
            message._headers = fields  # noqa: SLF001 - what the parser's set_raw appends to
            if message.get_content_maintype() not in ("message", "multipart"):
                message.set_payload("")
                return message
    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


class QuickHeadersResponse(http.client.HTTPResponse):
    """http.client's response, whose headers are read by :func:`_parse_headers`.

    ``begin`` is http.client's own code, unchanged, given a namespace in which its one call to
    the module's ``parse_headers`` finds :func:`_parse_headers`: nothing else of the standard
    response is copied or changed, and no other user of http.client in the process is touched.
    """

    begin = types.FunctionType(
        http.client.HTTPResponse.begin.__code__,
        {**vars(http.client), "parse_headers": _parse_headers},
        "begin",
    )


def _readable_now(sock: Any) -> bool:
    """Whether ``sock`` has something to read (or its end) right now, without waiting.

    urllib3 asks this of every pooled connection it hands out (a kept-alive connection Stripe
    has closed since reads as readable, and is replaced). It asks through ``select.poll``, which
    in a gevent worker is gevent's stand-in: a poll object, a watcher and a timeout built for
    every call, about 1.5 % of a donation's CPU (bench/README.md). A poll with no timeout never
    blocks, so the operating system's own poll is safe under gevent too, and answers the same.
    """
    monkey = sys.modules.get("gevent.monkey")
    # get_original gives the module's own poll whether or not gevent has patched it.
    poll = monkey.get_original("select", "poll") if monkey is not None else select.poll
    poller = poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _QuickConnection:
    """What the direct pools' connections change in urllib3's, for HTTP and HTTPS alike: Stripe's
    response headers read by :func:`_parse_headers`, and urllib3's own ``is_connected`` test
    (``HTTPConnection.is_connected``) asked without gevent's poll."""

    response_class = QuickHeadersResponse
    sock: Any

    @property
    def is_connected(self) -> bool:
        return self.sock is not None and not _readable_now(self.sock)


class _QuickHTTPConnection(_QuickConnection, urllib3.connection.HTTPConnection):
    pass


class _QuickHTTPSConnection(_QuickConnection, urllib3.connection.HTTPSConnection):
    pass


class PooledHTTPClient(stripe.HTTPClient):
    """stripe-python's transport over one urllib3 connection pool.

    stripe-python's default ``RequestsClient`` spends about a fifth of each call in requests'
    own layers (merging environment settings, proxy lookups, re-reading the CA bundle path);
    urllib3, which requests is built on, does the same work for less (bench/README.md). One pool
    per gateway keeps connections to Stripe alive across calls instead of a TLS handshake per
    donation, and must hold as many connections as a gevent worker has calls in flight
    (500 donations/s x 300 ms is 150 across two workers): past ``maxsize`` a connection is
    opened per call and dropped. A proxy named by HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) is
    honoured, as requests would. Retries stay stripe-python's, with its idempotency keys.
    """

    name = "urllib3"

    def __init__(self, timeout: float, maxsize: int = 256):
        super().__init__()
        options: dict[str, Any] = {
            "maxsize": maxsize,
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": stripe.ca_bundle_path,
        }
        self._options = options
        # One connection pool per origin (in practice one: api.stripe.com), called directly.
        self._direct: dict[str, urllib3.HTTPConnectionPool] = {}
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        for scheme, proxy in urllib.request.getproxies().items():
            if scheme in ("http", "https"):
                self._proxied[scheme] = urllib3.ProxyManager(proxy, num_pools=4, **options)

    def _pool_for(self, url: str) -> urllib3.ProxyManager | urllib3.HTTPConnectionPool:
        """The proxy the environment names for ``url``, else the origin's own connection pool."""
        if self._proxied:
            parts = urllib.parse.urlsplit(url)
            proxied = self._proxied.get(parts.scheme)
            if proxied is not None and not urllib.request.proxy_bypass(parts.hostname or ""):
                return proxied
        origin = _split(url)[0]
        pool = self._direct.get(origin)
        if pool is None:
            options = self._options
            if origin.startswith("http:"):  # the local sandbox: no TLS options (PoolManager drops them too)
                options = {k: v for k, v in options.items() if k not in ("cert_reqs", "ca_certs")}
            pool = urllib3.connection_from_url(origin, **options)
            pool.ConnectionCls = (
                _QuickHTTPSConnection if origin.startswith("https:") else _QuickHTTPConnection
            )
            pool = self._direct.setdefault(origin, pool)
        return pool

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=True)
        return response.data, response.status, response.headers

    def request_stream(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=False)
        return response, response.status, response.headers

    def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None, body: Any, *, preload: bool
    ) -> urllib3.BaseHTTPResponse:
        before_send()  # a resend by stripe-python takes its own slot in the call budget
        pool = self._pool_for(url)
        try:
            if isinstance(pool, urllib3.ProxyManager):
                return pool.request(
                    method, url, body=body, headers=headers, preload_content=preload, redirect=False
                )
            # The origin's pool, given the path and a plain dict of headers: PoolManager.request
            # would, on every call, copy the headers into an HTTPHeaderDict, parse the URL,
            # look the pool up by a normalised key and copy the headers again, about a fifth of
            # the call's CPU in a gevent worker (bench/README.md). The body is stripe-python's,
            # already encoded, with its Content-Type.
            return pool.urlopen(
                method,
                _split(url)[1],
                body=body,
                headers=dict(headers or {}),
                preload_content=preload,
                redirect=False,
            )
        except urllib3.exceptions.SSLError as exc:
            # A certificate problem does not go away by retrying (as stripe-python's own clients).
            raise APIConnectionError(
                f"Could not verify Stripe's TLS certificate ({type(exc).__name__}).", should_retry=False
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            # Timeouts, refused or reset connections: stripe-python retries with the same key.
            raise APIConnectionError(
                f"Unexpected error communicating with Stripe ({type(exc).__name__}).", should_retry=True
            ) from exc

    def close(self) -> None:
        for pool in self._direct.values():
            pool.close()
        self._direct.clear()
        for proxied in self._proxied.values():
            proxied.clear()


def _split(url: str) -> tuple[str, str]:
    """(``https://api.stripe.com``, ``/v1/checkout/sessions?...``) of stripe-python's absolute URL."""
    path_starts = url.find("/", url.index("//") + 2)
    if path_starts < 0:
        return url, "/"
    return url[:path_starts], url[path_starts:]


class StripeGateway:
    def __init__(
        self, client: stripe.StripeClient, budget: CallBudget | None = None, budget_wait: float = 2.0
    ):
        self.client = client
        # Every call takes one unit of the shared per-second budget first (service/stripe_budget.py).
        self.budget = budget
        self.budget_wait = budget_wait

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        # stripe-python's telemetry off: it would send Stripe each call's latency in a header of
        # the next, and build that header, the platform string and its own timings on every call
        # (about 15 µs of a donation's CPU). stripe-python's README: "You can disable this
        # behavior if you prefer: stripe.enable_telemetry = False". Our own latency histogram
        # (/metrics) and log lines are unchanged. The process's only Stripe client is this one.
        stripe.enable_telemetry = False
        http_client = PooledHTTPClient(settings.stripe_timeout_seconds)
        base = settings.stripe_api_base
        client = stripe.StripeClient(
            settings.stripe_secret_key,
            stripe_version=API_VERSION,
            base_addresses={"api": base} if not settings.uses_real_stripe else None,
            max_network_retries=settings.stripe_max_retries,
            http_client=http_client,
        )
        return cls(client, budget_from_settings(settings), settings.surge_wait_seconds)

    def create_checkout_session(
        self, params: dict[str, Any], idempotency_key: str, *, budget_wait: float | None = None
    ) -> CheckoutSession:
        # stripe-python's raw_request: the same request, retries and errors as
        # ``v1.checkout.sessions.create``, minus turning the answer into a StripeObject that
        # from_stripe would turn straight back into a dict (a third of the call's CPU).
        response = self._call(
            "checkout.sessions.create",
            lambda: self.client.raw_request(
                "post", "/v1/checkout/sessions", **params, idempotency_key=idempotency_key
            ),
            budget_wait=budget_wait,
        )
        return CheckoutSession.from_stripe(response.data)

    def create_payment_link(
        self, product: dict[str, Any], price: dict[str, Any], link: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """A product, its price and a Payment Link selling it (surge mode's fallback); returns the link."""
        created_product = self._call(
            "products.create",
            lambda: self.client.v1.products.create(
                params=product,  # type: ignore[arg-type]
                options={"idempotency_key": f"{idempotency_key}-product"},
            ),
            budget_wait=OPERATOR_BUDGET_WAIT,
        )
        created_price = self._call(
            "prices.create",
            lambda: self.client.v1.prices.create(
                params={**price, "product": created_product.id},  # type: ignore[arg-type]
                options={"idempotency_key": f"{idempotency_key}-price"},
            ),
            budget_wait=OPERATOR_BUDGET_WAIT,
        )
        params = {**link, "line_items": [{"price": created_price.id, "quantity": 1}]}
        created_link = self._call(
            "payment_links.create",
            lambda: self.client.v1.payment_links.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"{idempotency_key}-link"},
            ),
            budget_wait=OPERATOR_BUDGET_WAIT,
        )
        return _plain(created_link)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        session = self._call(
            "checkout.sessions.retrieve",
            lambda: self.client.v1.checkout.sessions.retrieve(session_id),
        )
        return CheckoutSession.from_stripe(session)

    # -- reading what happened after checkout (the webhook ledger's backfill and lookups) --

    def list_events(
        self,
        *,
        created_gte: int,
        types: list[str],
        starting_after: str | None = None,
        limit: int = 100,
        account: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of events, newest first, and whether more pages follow.

        ``account`` lists a connected account's own events (its payouts), with its ``Stripe-Account``.
        """
        params: dict[str, Any] = {"created": {"gte": created_gte}, "types": types, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        page = self._call(
            "events.list",
            lambda: self.client.v1.events.list(params=params, options=options),  # type: ignore[arg-type]
        )
        return [_plain(event) for event in page.data], bool(page.has_more)

    def retrieve_checkout_session_raw(self, session_id: str) -> dict[str, Any]:
        session = self._call(
            "checkout.sessions.retrieve",
            lambda: self.client.v1.checkout.sessions.retrieve(session_id),
        )
        return _plain(session)

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        """The intent's charges with their balance transactions expanded (fee, net, settlement)."""
        page = self._call(
            "charges.list",
            lambda: self.client.v1.charges.list(
                params={
                    "payment_intent": payment_intent_id,
                    "expand": ["data.balance_transaction"],
                    "limit": 10,
                }
            ),
        )
        return [_plain(charge) for charge in page.data]

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        """The invoice's payments (InvoicePayment objects: which PaymentIntent paid it).

        Live Stripe leaves ``invoice.payments`` out of webhook payloads and default responses (it
        is an includable field) and has had no top-level ``invoice.payment_intent`` since API
        2025-03-31; the Invoice Payments API is the documented way to find the payment
        (https://docs.stripe.com/api/invoice-payment: "by expanding the payments field on the
        Invoice resource [or] by using the Invoice Payment retrieve and list endpoints").
        """
        page = self._call(
            "invoice_payments.list",
            lambda: self.client.v1.invoice_payments.list(params={"invoice": invoice_id, "limit": 100}),
        )
        return [_plain(payment) for payment in page.data]

    def retrieve_balance_transaction(self, transaction_id: str) -> dict[str, Any]:
        txn = self._call(
            "balance_transactions.retrieve",
            lambda: self.client.v1.balance_transactions.retrieve(transaction_id),
        )
        return _plain(txn)

    def refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]:
        """The charge's refunds, each with its status (a refund can fail after it succeeded) and its
        balance transaction expanded (what it took from the balance, in the settlement currency).
        A charge is refunded a handful of times at most."""
        page = self._call(
            "refunds.list",
            lambda: self.client.v1.refunds.list(
                params={"charge": charge_id, "expand": ["data.balance_transaction"], "limit": 100}
            ),
        )
        return [_plain(refund) for refund in page.data]

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        subscription = self._call(
            "subscriptions.retrieve",
            lambda: self.client.v1.subscriptions.retrieve(subscription_id),
        )
        return _plain(subscription)

    # -- monthly donors managing their gift (service/manage.py) --

    def create_portal_session(
        self, customer_id: str, return_url: str, flow: dict[str, Any], locale: str | None = None
    ) -> str:
        """A Customer Portal session opened straight at one flow; returns its short-lived URL.

        ``flow`` is ``flow_data`` (payment_method_update, or subscription_cancel for one
        subscription), with ``after_completion`` redirecting to ``return_url``:
        https://docs.stripe.com/customer-management/portal-deep-links
        """
        params: dict[str, Any] = {
            "customer": customer_id,
            "return_url": return_url,
            "flow_data": {
                **flow,
                "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
            },
        }
        if locale:
            params["locale"] = locale
        session = self._call(
            "billing_portal.sessions.create",
            lambda: self.client.v1.billing_portal.sessions.create(params=params),  # type: ignore[arg-type]
        )
        return str(session.url)

    def change_subscription_amount(
        self, subscription_id: str, amount: int, idempotency_key: str
    ) -> dict[str, Any]:
        """Charge ``amount`` per period from the next invoice on, without proration (a gift, not a plan).

        The subscription's one item gets a new inline price for the same product and interval:
        https://docs.stripe.com/billing/subscriptions/change-price
        """
        current = self.retrieve_subscription(subscription_id)
        item = current["items"]["data"][0]
        price = item["price"]
        recurring = {"interval": price["recurring"]["interval"]}
        if price["recurring"].get("interval_count"):
            recurring["interval_count"] = price["recurring"]["interval_count"]
        product = price["product"] if isinstance(price["product"], str) else price["product"]["id"]
        params = {
            "items": [{"id": item["id"], "price_data": {
                "currency": price["currency"], "product": product, "recurring": recurring, "unit_amount": amount,
            }}],
            "proration_behavior": "none",
        }  # fmt: skip
        updated = self._call(
            "subscriptions.update",
            lambda: self.client.v1.subscriptions.update(
                subscription_id,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            ),
        )
        return _plain(updated)

    def retrieve_transfer(self, transfer_id: str) -> dict[str, Any]:
        """A destination charge's transfer to the charity's connected account (Connect)."""
        transfer = self._call("transfers.retrieve", lambda: self.client.v1.transfers.retrieve(transfer_id))
        return _plain(transfer)

    def payout_balance_transactions(self, payout_id: str, account: str | None = None) -> list[dict[str, Any]]:
        """Every balance transaction a payout settled (all pages).

        ``account`` reads a connected account's payout: the request carries its ``Stripe-Account``
        header (docs.stripe.com/connect/authentication), as that payout is not the platform's.
        """
        found: list[dict[str, Any]] = []
        starting_after: str | None = None
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        while True:
            # Sources expanded so each line names its charge, refund, dispute or transfer without a
            # call per line, as Stripe's payout reconciliation guide does
            # (docs.stripe.com/payouts/reconciliation: expand[]=data.source).
            params: dict[str, Any] = {"payout": payout_id, "limit": 100, "expand": ["data.source"]}
            if starting_after:
                params["starting_after"] = starting_after
            page = self._call(
                "balance_transactions.list",
                lambda params=params: self.client.v1.balance_transactions.list(
                    params=params, options=options
                ),  # type: ignore[misc,arg-type]
            )
            found.extend(_plain(txn) for txn in page.data)
            if not page.has_more or not page.data:
                return found
            starting_after = page.data[-1].id

    def balance_transactions_before(self, created_lt: int) -> list[dict[str, Any]]:
        """Every balance transaction created before ``created_lt`` (a Unix time), sources
        expanded: the month-end report's opening balance and the month's activity."""
        found: list[dict[str, Any]] = []
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"created": {"lt": created_lt}, "limit": 100, "expand": ["data.source"]}
            if starting_after:
                params["starting_after"] = starting_after
            page = self._call(
                "balance_transactions.list",
                lambda params=params: self.client.v1.balance_transactions.list(params=params),  # type: ignore[misc]
            )
            found.extend(_plain(txn) for txn in page.data)
            if not page.has_more or not page.data:
                return found
            starting_after = page.data[-1].id

    def _call(self, operation: str, func: Any, *, budget_wait: float | None = None) -> Any:
        wait = self.budget_wait if budget_wait is None else budget_wait
        if self.budget is not None and not self.budget.acquire(wait):
            self._budget_spent(operation)
        started = time.perf_counter()
        outcome = "ok"
        try:
            with first_send_paid(self.budget, wait):
                return func()
        except CallBudgetSpent:
            outcome = "budget_spent"  # a resend by stripe-python found no slot in time: not sent
            raise _budget_spent_error() from None
        except stripe.RateLimitError as exc:
            outcome = "rate_limited"
            raise StripeGatewayError(
                "rate_limited", exc.code, "Our payment provider is busy.", retry_after=2
            ) from None
        except stripe.AuthenticationError as exc:
            outcome = "auth"
            raise StripeGatewayError("auth", exc.code, "Payments are misconfigured.") from None
        except stripe.APIConnectionError:
            outcome = "unavailable"
            raise StripeGatewayError(
                "unavailable",
                "connection",
                "We could not reach our payment provider.",
                retry_after=5,
            ) from None
        except stripe.StripeError as exc:
            status = exc.http_status or 0
            # 409: Stripe is still working on an earlier attempt with the same idempotency key
            # (ours timed out); retrying shortly returns its result.
            if status >= 500 or status in (0, 409):
                outcome = "unavailable"
                raise StripeGatewayError(
                    "unavailable", exc.code, "Our payment provider had a problem.", retry_after=5
                ) from None
            outcome = "rejected"
            raise StripeGatewayError(
                "rejected", exc.code or "invalid_request", "The payment could not be set up."
            ) from None
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            observe_stripe_call(operation, outcome, elapsed_ms / 1000)
            # Every call is in the Stripe latency histogram (/metrics); a line per successful
            # call would be most of a busy night's log volume, so those are DEBUG.
            log.log(
                logging.INFO if outcome != "ok" else logging.DEBUG,
                "stripe_call",
                extra={
                    "operation": operation,
                    "outcome": outcome,
                    "elapsed_ms": round(elapsed_ms, 1),
                },
            )

    def _budget_spent(self, operation: str) -> NoReturn:
        observe_stripe_call(operation, "budget_spent", 0.0)
        log.info("stripe_call_budget_spent", extra={"operation": operation})
        raise _budget_spent_error()


def _budget_spent_error() -> StripeGatewayError:
    """What a caller gets when no slot of the shared call budget came in time (before the first
    send, or before a resend); donations/checkout.py does not retry it: the budget waited already."""
    return StripeGatewayError(
        "rate_limited", "call_budget_spent", "Our payment provider is busy.", retry_after=1
    )
