"""sandbox.delivery: signed webhook delivery with retries and chaos switches,
checked against a real local HTTP receiver and stripe-python's verifier."""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from sandbox.delivery import USER_AGENT, Deliverer, DeliveryAttempt, signature_header

FAST = (0.05, 0.1)
SECRET_OLD = "whsec_old_0123456789"
SECRET_NEW = "whsec_new_9876543210"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A tiny webhook endpoint: records requests, can fail or stall on purpose."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_first = 0  # answer 500 to this many requests
        self.sleep_first = 0  # stall this many requests...
        self.sleep_for = 0.0  # ...for this long
        self.slow_path: str | None = None  # always stall requests to this path
        self._lock = threading.Lock()
        self._seen = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver._seen += 1
                    n = receiver._seen
                stall = n <= receiver.sleep_first or self.path == receiver.slow_path
                if stall:
                    time.sleep(receiver.sleep_for)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                status = 500 if n <= receiver.fail_first else 200
                payload = b'{"received": true}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and hung up
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval keeps shutdown() (and so each test) quick.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/webhooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def event_ids(self) -> list[str]:
        with self._lock:
            return [json.loads(r.body)["id"] for r in self.requests]

    def wait_for(self, count: int, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_deliverer() -> Iterator:
    made: list[Deliverer] = []

    def make(urls, secrets=(SECRET_OLD,), **kw) -> Deliverer:
        kw.setdefault("retry_delays", FAST)
        kw.setdefault("timeout", 2.0)
        d = Deliverer(urls, secrets, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def event(n: int = 1, type_: str = "checkout.session.completed") -> dict:
    return {
        "id": f"evt_test_{n}",
        "object": "event",
        "type": type_,
        "created": 1_900_000_000,
        "data": {"object": {"id": f"cs_test_{n}", "object": "checkout.session"}},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- signing -------------------------------------------------------------------------


def test_signature_header_format():
    payload = b'{"id": "evt_1"}'
    header = signature_header(payload, [SECRET_OLD, SECRET_NEW], timestamp=1_700_000_000)
    expected = [
        hmac.new(s.encode(), b"1700000000." + payload, sha256).hexdigest() for s in (SECRET_OLD, SECRET_NEW)
    ]
    assert header == f"t=1700000000,v1={expected[0]},v1={expected[1]}"


def test_signature_header_verifies_with_stripe_python():
    payload = json.dumps(event(), indent=2).encode()
    header = signature_header(payload, [SECRET_OLD])
    assert stripe.Webhook.construct_event(payload, header, SECRET_OLD).id == "evt_test_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, SECRET_NEW)


# -- delivery ------------------------------------------------------------------------


def test_delivers_signed_event_verifiable_with_both_rotation_secrets(receiver, make_deliverer):
    d = make_deliverer([receiver.url()], [SECRET_OLD, SECRET_NEW])
    d.deliver(event(1))
    assert d.wait_idle(3)
    (req,) = receiver.requests
    assert req.path == "/webhooks"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["User-Agent"] == USER_AGENT
    assert req.body == json.dumps(event(1), indent=2).encode()
    header = req.headers["Stripe-Signature"]
    assert header.count("v1=") == 2
    for secret in (SECRET_OLD, SECRET_NEW):
        verified = stripe.Webhook.construct_event(req.body, header, secret)
        assert verified.id == "evt_test_1"
        assert verified.type == "checkout.session.completed"
    (attempt,) = d.attempts
    assert attempt == DeliveryAttempt("evt_test_1", receiver.url(), 1, attempt.at, 200, None, True)


def test_retries_after_500_then_succeeds(receiver, make_deliverer):
    seen: list[DeliveryAttempt] = []
    receiver.fail_first = 2
    d = make_deliverer([receiver.url()], on_attempt=seen.append)
    d.deliver(event(1))
    assert d.wait_idle(3)
    attempts = d.attempts_for("evt_test_1")
    assert [(a.attempt, a.status, a.ok) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert attempts[0].error == "HTTP 500"
    assert seen == attempts
    # The retry waited out its delay and was re-signed at send time.
    times = [r.at for r in receiver.requests]
    assert times[1] - times[0] >= FAST[0] * 0.9
    assert times[2] - times[1] >= FAST[1] * 0.9
    for req in receiver.requests:
        stripe.Webhook.construct_event(req.body, req.headers["Stripe-Signature"], SECRET_OLD)


def test_timeout_is_a_failure_and_is_retried(receiver, make_deliverer):
    receiver.sleep_first, receiver.sleep_for = 1, 0.6
    d = make_deliverer([receiver.url()], timeout=0.2)
    d.deliver(event(1))
    assert d.wait_idle(3)
    first, second = d.attempts
    assert (first.ok, first.status) == (False, None)
    assert first.error.startswith("timeout")
    assert (second.attempt, second.status, second.ok) == (2, 200, True)


def test_gives_up_after_exhausting_retry_delays(receiver, make_deliverer):
    receiver.fail_first = 100
    d = make_deliverer([receiver.url()], retry_delays=(0.02, 0.02))
    d.deliver(event(1))
    assert d.wait_idle(3)
    assert [a.attempt for a in d.attempts] == [1, 2, 3]
    assert not any(a.ok for a in d.attempts)
    time.sleep(0.1)
    assert len(receiver.requests) == 3


def test_connection_error_is_retried_then_given_up(make_deliverer):
    url = f"http://127.0.0.1:{free_port()}/webhooks"
    d = make_deliverer([url], retry_delays=(0.02,))
    d.deliver(event(1))
    assert d.wait_idle(5)
    assert [(a.attempt, a.status, a.ok) for a in d.attempts] == [(1, None, False), (2, None, False)]
    assert d.attempts[0].error.startswith("connection error")


def test_duplicate_switch(receiver, make_deliverer):
    d = make_deliverer([receiver.url()])
    d.configure(duplicate=True)
    d.deliver(event(1))
    assert d.wait_idle(3)
    assert receiver.event_ids() == ["evt_test_1", "evt_test_1"]
    d.duplicate = False
    d.deliver(event(2))
    assert d.wait_idle(3)
    assert receiver.event_ids().count("evt_test_2") == 1


def test_out_of_order_switch(receiver, make_deliverer):
    d = make_deliverer([receiver.url()], hold_window=0.3)
    d.configure(out_of_order=True)
    for n in (1, 2, 3):
        d.deliver(event(n))
    assert not d.wait_idle(0.02)  # still held
    assert d.wait_idle(3)
    assert receiver.event_ids() == ["evt_test_3", "evt_test_2", "evt_test_1"]


def test_switching_out_of_order_off_releases_held_events(receiver, make_deliverer):
    d = make_deliverer([receiver.url()], hold_window=30)
    d.out_of_order = True
    d.deliver(event(1))
    d.deliver(event(2))
    d.configure(out_of_order=False)
    assert d.wait_idle(3)
    assert receiver.event_ids() == ["evt_test_2", "evt_test_1"]


def test_delay_switch(receiver, make_deliverer):
    d = make_deliverer([receiver.url()])
    d.configure(delay=0.3)
    start = time.monotonic()
    d.deliver(event(1))
    assert not d.wait_idle(0.1)
    assert receiver.requests == []
    assert d.wait_idle(3)
    assert receiver.requests[0].at - start >= 0.29


def test_slow_endpoint_does_not_block_others(receiver, make_deliverer):
    receiver.slow_path, receiver.sleep_for = "/slow", 0.6
    # The slow URL is queued first; a single worker would reach /fast only after it.
    d = make_deliverer([receiver.url("/slow"), receiver.url("/fast")])
    d.deliver(event(1))
    assert d.wait_idle(3)
    assert [r.path for r in receiver.requests] == ["/fast", "/slow"]


def test_set_endpoints_at_runtime(receiver, make_deliverer):
    d = make_deliverer([], [SECRET_OLD])
    d.set_endpoints([receiver.url("/new")], [SECRET_NEW])
    d.deliver(event(1))
    assert d.wait_idle(3)
    (req,) = receiver.requests
    assert req.path == "/new"
    stripe.Webhook.construct_event(req.body, req.headers["Stripe-Signature"], SECRET_NEW)


def test_no_urls_is_a_no_op(make_deliverer):
    d = make_deliverer([])
    d.deliver(event(1))
    assert d.wait_idle(0.01)
    assert d.attempts == []


def test_unknown_switch_rejected(make_deliverer):
    with pytest.raises(TypeError):
        make_deliverer([]).configure(louder=True)


def test_close_is_prompt_with_retries_pending(receiver):
    receiver.fail_first = 100
    d = Deliverer([receiver.url()], [SECRET_OLD], retry_delays=(30,))
    d.deliver(event(1))
    assert receiver.wait_for(1)
    d.close()
    # Prompt: close() gives each thread at most 0.5 s to stop, so none alive afterwards means none
    # sat out the 30 s retry (judged by state, not by a wall-clock bound a loaded machine breaks).
    assert not any(t.is_alive() for t in d._threads)
    assert d.wait_idle(0.01)
    assert all(t.daemon for t in d._threads)
    d.deliver(event(2))  # after close: ignored
    time.sleep(0.05)
    assert len(receiver.requests) == 1
