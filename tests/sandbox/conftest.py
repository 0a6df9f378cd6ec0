"""Fixtures: one sandbox server per test session (reset before each test), the real
stripe-python client pointed at it, and a local webhook receiver that verifies
signatures with ``stripe.Webhook.construct_event``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from sandbox.server import RunningSandbox, start_in_thread
from tests.support.sandbox_params import monthly_params, session_params

WEBHOOK_SECRET = "whsec_test_receiver"
API_KEY = "sk_test_sandbox"


class WebhookReceiver:
    """Collects verified events; ``fail_next(n)`` answers 500 to the next n deliveries."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.rejected: list[str] = []
        self._fail = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server names handlers this way
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.raw.append((dict(self.headers), body))
                    failing = receiver._fail > 0
                    receiver._fail -= 1 if failing else 0
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    event = stripe.Webhook.construct_event(
                        body, self.headers.get("Stripe-Signature", ""), WEBHOOK_SECRET
                    )
                except (ValueError, stripe.SignatureVerificationError) as exc:
                    receiver.rejected.append(str(exc))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.events.append(json.loads(body))
                    assert event.id
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._fail = n

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
            self.raw.clear()
            self.rejected.clear()
            self._fail = 0

    def types(self) -> list[str]:
        with self._lock:
            return [e["type"] for e in self.events]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def _sandbox_server(webhook_receiver: WebhookReceiver) -> Iterator[RunningSandbox]:
    running = start_in_thread(
        webhook_urls=[webhook_receiver.url],
        webhook_secrets=[WEBHOOK_SECRET],
        # Short retries keep the suite fast; the schedule's shape is what matters.
        webhook_retry_delays=(0.05, 0.1, 0.2),
    )
    yield running
    running.stop()


@pytest.fixture
def sandbox(_sandbox_server: RunningSandbox, webhook_receiver: WebhookReceiver
            ) -> Iterator[RunningSandbox]:  # fmt: skip
    """A running sandbox with empty state, default switches and a clean receiver."""
    control = _sandbox_server.control
    control.reset()  # also restores the switches the server started with
    webhook_receiver.clear()
    yield _sandbox_server
    control.wait_for_webhooks(timeout=5)
    control.clear_faults()


@pytest.fixture
def stripe_client(sandbox: RunningSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": sandbox.base_url})


@pytest.fixture
def donation() -> Callable[..., dict[str, Any]]:
    """Builds session-create params; keyword arguments override top-level keys."""
    return session_params


@pytest.fixture
def monthly() -> Callable[..., dict[str, Any]]:
    return monthly_params
