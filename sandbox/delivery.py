"""Stripe-style signed webhook delivery for the sandbox.

Events are serialised once, signed at send time exactly as Stripe signs them
(``Stripe-Signature: t=<ts>,v1=<hmac>[,v1=<hmac>]``) and POSTed to every
configured endpoint by a small pool of daemon threads. Failures (non-2xx,
timeouts, connection errors) are retried on a compressed version of Stripe's
three-day schedule. Runtime switches let tests reproduce what Stripe does in
real life: duplicate deliveries, out-of-order delivery and slow delivery.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import requests

__all__ = ["DeliveryAttempt", "Deliverer", "signature_header", "USER_AGENT"]

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
CONTENT_TYPE = "application/json; charset=utf-8"


def signature_header(payload: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value: one ``v1`` per secret, so an
    endpoint mid-rotation accepts the event with either its old or new secret."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{ts}.".encode() + payload
    parts = [f"t={ts}"]
    for secret in secrets:
        digest = hmac.new(secret.encode("utf-8"), signed, sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    url: str
    attempt: int  # 1 for the first try of a delivery, 2 for its first retry, ...
    at: float  # time.time() when the request started
    status: int | None  # HTTP status, None if no response arrived
    error: str | None  # timeout/connection error text, or "HTTP <status>"
    ok: bool  # 2xx


@dataclass
class _Send:
    event_id: str
    url: str
    payload: bytes
    attempt: int = 1


@dataclass
class _Batch:
    sends: list[_Send]


_FLUSH = object()  # scheduler item: release the events held for out-of-order mode
_STOP = object()


class Deliverer:
    """Delivers events to webhook endpoints from background threads.

    Switches (attributes, or ``configure(**kw)``): ``duplicate`` sends each
    event twice; ``out_of_order`` holds events for ``hold_window`` seconds and
    sends each batch in reverse order; ``delay`` postpones first attempts.
    """

    def __init__(
        self,
        urls: Sequence[str],
        secrets: Sequence[str],
        *,
        retry_delays: Sequence[float] = (1, 2, 4, 8, 16),
        timeout: float = 10.0,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
        session: requests.Session | None = None,
        workers: int = 4,
        hold_window: float = 0.25,
    ) -> None:
        self.urls: tuple[str, ...] = tuple(urls)
        self.secrets: tuple[str, ...] = tuple(secrets)
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)
        self.timeout = timeout
        self.on_attempt = on_attempt
        # Sees every event payload queued for delivery (Sandbox.watch_sent).
        self.sent_hook: Callable[[str, Any, list[str]], None] | None = None
        self.duplicate = False
        self.out_of_order = False
        self.delay = 0.0
        self.hold_window = hold_window
        self.attempts: list[DeliveryAttempt] = []

        self._session = session
        self._local = threading.local()
        self._workers = workers
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._held: list[tuple[str, bytes]] = []
        self._flush_scheduled = False
        self._outstanding = 0  # held events + send chains not yet finished
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- configuration -------------------------------------------------------

    _SWITCHES = ("duplicate", "out_of_order", "delay", "hold_window", "retry_delays", "timeout")

    def configure(self, **switches: Any) -> None:
        """Change switches at runtime, e.g. ``configure(duplicate=True)``."""
        for name, value in switches.items():
            if name not in self._SWITCHES:
                raise TypeError(f"unknown delivery switch: {name}")
            if name == "retry_delays":
                value = tuple(value)
            setattr(self, name, value)
        if switches.get("out_of_order") is False:
            self._flush_held()

    def set_endpoints(self, urls: Sequence[str], secrets: Sequence[str]) -> None:
        """Replace endpoints and signing secrets; in-flight retries keep their
        URL but are signed with the new secrets."""
        with self._lock:
            self.urls = tuple(urls)
            self.secrets = tuple(secrets)

    # -- public API ----------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every endpoint; returns immediately."""
        with self._lock:
            if self._closed or not self.urls:
                return
            self._start_threads()
            payload = json.dumps(event, indent=2).encode("utf-8")
            if self.sent_hook is not None:
                self.sent_hook(f"webhook {event.get('type')}", json.loads(payload), [])
            event_id = str(event.get("id", ""))
            if self.out_of_order:
                self._held.append((event_id, payload))
                self._outstanding += 1
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    self._push(time.monotonic() + self.hold_window, _FLUSH)
                return
            due = time.monotonic() + self.delay
            for url in self.urls:
                for _ in range(2 if self.duplicate else 1):
                    self._outstanding += 1
                    self._push(due, _Send(event_id, url, payload))

    def attempts_for(self, event_id: str) -> list[DeliveryAttempt]:
        with self._lock:
            return [a for a in self.attempts if a.event_id == event_id]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing is held, queued, in flight or waiting to retry."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def close(self) -> None:
        """Stop the threads; anything still pending is dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._heap.clear()
            self._held.clear()
            self._outstanding = 0
            self._lock.notify_all()
            threads = list(self._threads)
        for _ in range(self._workers):
            self._queue.put(_STOP)
        for thread in threads:
            # Workers may be mid-request; they are daemons, so don't wait long.
            thread.join(timeout=0.5)

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals (callers hold self._lock where noted) -----------------------

    def _start_threads(self) -> None:  # lock held
        if self._threads:
            return
        scheduler = threading.Thread(target=self._schedule_loop, name="webhook-scheduler", daemon=True)
        self._threads.append(scheduler)
        for i in range(self._workers):
            self._threads.append(
                threading.Thread(target=self._work_loop, name=f"webhook-worker-{i}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _push(self, due: float, item: Any) -> None:  # lock held
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._lock.notify_all()

    def _finish(self, chains: int = 1) -> None:
        with self._lock:
            if self._closed:
                return
            self._outstanding -= chains
            if self._outstanding <= 0:
                self._outstanding = 0
                self._lock.notify_all()

    def _flush_held(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            held, self._held = self._held, []
            if not held or self._closed:
                return
            self._outstanding -= len(held)
            held.reverse()
            copies = 2 if self.duplicate else 1
            # One sequential batch per URL, so each endpoint sees the reversal.
            for url in self.urls:
                sends = [_Send(eid, url, payload) for eid, payload in held for _ in range(copies)]
                self._outstanding += len(sends)
                self._push(time.monotonic() + self.delay, _Batch(sends))
            if self._outstanding <= 0:
                self._outstanding = 0
                self._lock.notify_all()

    def _schedule_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._lock.wait(wait)
                if self._closed:
                    return
                _, _, item = heapq.heappop(self._heap)
            if item is _FLUSH:
                self._flush_held()
            else:
                self._queue.put(item)

    def _work_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP or self._closed:
                return
            sends = item.sends if isinstance(item, _Batch) else [item]
            for send in sends:
                if self._closed:
                    return
                self._attempt(send)

    def _http(self) -> requests.Session:
        if self._session is not None:
            return self._session
        session = getattr(self._local, "session", None)
        if session is None:
            # requests.Session isn't documented as thread-safe: one per worker.
            session = self._local.session = requests.Session()
        return session

    def _attempt(self, send: _Send) -> None:
        with self._lock:
            secrets = self.secrets
            timeout = self.timeout
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
            "Stripe-Signature": signature_header(send.payload, secrets),
        }
        started = time.time()
        status: int | None = None
        error: str | None = None
        try:
            response = self._http().post(
                send.url,
                data=send.payload,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,  # Stripe counts a redirect as a failure
            )
            status = response.status_code
            response.close()
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except requests.Timeout as exc:
            error = f"timeout: {exc}"
        except requests.RequestException as exc:
            error = f"connection error: {exc}"
        except Exception as exc:  # e.g. a malformed URL: count it as a failed attempt
            error = f"error: {exc!r}"
        ok = error is None
        record = DeliveryAttempt(send.event_id, send.url, send.attempt, started, status, error, ok)
        with self._lock:
            if self._closed:
                return
            self.attempts.append(record)
        if self.on_attempt is not None:
            try:
                self.on_attempt(record)
            except Exception:  # a broken observer must not kill the worker
                log.exception("on_attempt callback failed")
        if ok:
            self._finish()
            return
        with self._lock:
            if self._closed:
                return
            if send.attempt <= len(self.retry_delays):
                retry = _Send(send.event_id, send.url, send.payload, send.attempt + 1)
                self._push(time.monotonic() + self.retry_delays[send.attempt - 1], retry)
                return
        log.info("giving up on %s to %s after %d attempts", send.event_id, send.url, send.attempt)
        self._finish()
