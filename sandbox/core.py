"""The running sandbox's state: options, store, events, faults and timers."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from sandbox import API_VERSION, money
from sandbox.config import Options
from sandbox.events import Events
from sandbox.faults import Faults
from sandbox.ids import now
from sandbox.money import FALLBACK_FEE, Fee
from sandbox.store import Store

log = logging.getLogger("sandbox")

# Called with every JSON body the sandbox sends: (source, body, expand), where source is
# "GET /v1/charges/ch_..." or "webhook charge.succeeded" and expand the request's expand[].
SentHook = Callable[[str, Any, list[str]], None]

# Expires one open Checkout Session past its expires_at (sandbox.payments.expire_due, given by
# the app so that this module, which payments builds on, does not import it back).
ExpireSession = Callable[["Sandbox", dict[str, Any]], None]

# How often open Checkout Sessions past their expires_at are expired (and announced).
SWEEP_SECONDS = 1.0


class Sandbox:
    def __init__(self, options: Options, *, expire_session: ExpireSession) -> None:
        self.options = options
        self._expire_session = expire_session
        self._started_with = dataclasses.replace(
            options, fees=dict(options.fees), exchange_rates=dict(options.exchange_rates)
        )
        self.store = Store(options.state_file)
        self.events = Events(
            self.store, options.webhook_urls, options.secrets(), options.webhook_retry_delays
        )
        self.faults = Faults(options.latency_ms, options.rate_limit)
        self.base_url = (options.public_url or f"http://{options.host}:{options.port}").rstrip("/")
        self.sent_hook: SentHook | None = None
        self._timers: list[threading.Timer] = []
        self._timer_lock = threading.Lock()
        self._stopping = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="expiry", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(SWEEP_SECONDS):
            try:
                self.sweep()
            except Exception:  # the sweeper must survive a bad object
                log.exception("expiry sweep failed")

    def sweep(self) -> int:
        """Expire open sessions whose ``expires_at`` has passed; returns how many."""
        with self.store.lock:
            due = [sid for sid, at in self.store.table("open_sessions").items() if at <= now()]
            for sid in due:
                session = self.store.get(sid)
                if session is not None:
                    self._expire_session(self, session)
                self.store.table("open_sessions").pop(sid, None)
            if due:
                self.save()
        return len(due)

    def watch_sent(self, hook: SentHook | None) -> None:
        """Record every JSON body sent from now on, API answers and webhook payloads alike
        (the conformance test checks them against Stripe's shapes); None stops it."""
        self.sent_hook = hook
        self.events.deliverer.sent_hook = hook

    def fee(self, currency: str) -> Fee:
        return self.options.fees.get(currency.lower(), FALLBACK_FEE)

    def settlement(self, currency: str) -> tuple[str, float | None]:
        """Where money in ``currency`` lands: (settlement currency, exchange_rate or None)."""
        target = self.options.settlement_currency
        if not target or target == currency.lower():
            return currency.lower(), None
        return target, money.exchange_rate(currency.lower(), target, self.options.exchange_rates)

    def later(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``seconds`` on a daemon timer (cancelled by reset/close)."""
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        with self._timer_lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def reset(self) -> None:
        """Forget every object, event, idempotency key and fault, and put every switch
        changed at runtime (latency, rate limit, fees, webhook switches and endpoints)
        back to how the sandbox was started."""
        self._cancel_timers()
        self.events.deliverer.wait_idle(0)
        with self.store.lock:
            self.store.clear()
            self.store.flush()
        self.faults.clear()
        start = self._started_with
        self.faults.latency_ms = start.latency_ms
        self.faults.rate_limit = start.rate_limit
        self.options.async_settle_seconds = start.async_settle_seconds
        self.options.available_after_days = start.available_after_days
        self.options.fees = dict(start.fees)
        self.options.settlement_currency = start.settlement_currency
        self.options.exchange_rates = dict(start.exchange_rates)
        self.events.deliverer.configure(duplicate=False, out_of_order=False, delay=0.0)
        self.events.api_version = API_VERSION
        self.events.set_endpoints(start.webhook_urls, start.secrets())

    def save(self) -> None:
        self.store.save()

    def close(self) -> None:
        self._stopping.set()
        self._cancel_timers()
        self.store.flush()
        self.events.close()
        self.faults.release_all()

    def _cancel_timers(self) -> None:
        with self._timer_lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
