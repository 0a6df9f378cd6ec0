"""The donation windows' Redis call (service/rate_limits.py: Counts._evalsha_windows) against
real Redis (db 15, keys under this module's own deployment ids): it sends the bytes redis-py's
Script call sent, counts as it did, and keeps redis-py's handling of NOSCRIPT, dropped
connections, timeouts and health checks. The reference is the Script call it replaced."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.rate_limits import Counts, Window
from service.settings import load_settings

REDIS_URL = "redis://127.0.0.1:6379/15"


class ScriptCounts(Counts):
    """Counts as before the lean call: redis-py's Script object, for every call."""

    def _take_redis(
        self, hard: list[tuple[str, Window]], soft: list[tuple[str, Window]], token: str
    ) -> tuple[int | None, bool]:
        args: list[Any] = [token, len(hard)]
        for _, window in [*hard, *soft]:
            args += [window.limit, window.seconds]
        try:
            wait, over = self._take(keys=[key for key, _ in [*hard, *soft]], args=args)
        except Exception as exc:  # noqa: BLE001 - as the service
            self._redis_failed(exc)
            return None, False
        return int(wait), bool(over)


IMPLEMENTATIONS = {"lean": Counts, "script": ScriptCounts}


def make_counts(kind: type[Counts] = Counts, url: str = REDIS_URL, **limits: str) -> Counts:
    env = {"REDIS_URL": url, "DEPLOYMENT_ID": f"test-rl-call-{uuid.uuid4().hex[:8]}"}
    env.update({name.upper(): value for name, value in limits.items()})
    return kind(load_settings(env))


@pytest.fixture
def made() -> Iterator[list[Counts]]:
    """Counts a test makes, their keys deleted and their connections closed afterwards."""
    counts: list[Counts] = []
    yield counts
    for each in counts:
        each._redis_down_until = 0.0
        each.reset()
        each.redis.close()


def entries(counts: Counts, key: str) -> list[bytes]:
    return counts.redis.lrange(key, 0, -1)


class Sent:
    """The EVALSHA commands sent on any redis-py connection, as bytes on the wire."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[bytes] = []
        original = redis.connection.AbstractConnection.send_packed_command

        def spy(connection: Any, command: Any, check_health: bool = True) -> None:
            data = b"".join([command] if isinstance(command, (str, bytes)) else command)
            if b"EVALSHA" in data[:32]:
                self.commands.append(data)
            original(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", spy)


def test_redis_py_does_not_retry_for_the_script_call_either() -> None:
    # The lean call does not retry (see its docstring); if redis-py's default for from_url ever
    # retries, it must be retried the same way.
    counts = make_counts()
    connection = counts.redis.connection_pool.get_connection()
    try:
        assert connection.retry.get_retries() == 0
    finally:
        counts.redis.connection_pool.release(connection)
        counts.redis.close()


WINDOW_SETTINGS = [
    {},  # the defaults: two per address, one per network, the Stripe budget's service rate
    {
        "rate_limit_donations": "3/second",
        "rate_limit_donations_network": "",
        "rate_limit_donations_global": "",
    },
    {
        "rate_limit_donations": "1/minute;2/hour;3/day",
        "rate_limit_donations_global": "123456/second;7/2 seconds",
    },
]


@pytest.mark.parametrize("limits", WINDOW_SETTINGS)
@pytest.mark.parametrize("query", ["", "?encoding=latin-1"])
def test_the_lean_call_sends_the_bytes_redis_pys_script_call_sends(
    limits: dict[str, str], query: str, monkeypatch: pytest.MonkeyPatch, made: list[Counts]
) -> None:
    counts = make_counts(url=REDIS_URL + query, **limits)
    made.append(counts)
    reference = ScriptCounts.__new__(ScriptCounts)
    reference.__dict__.update(counts.__dict__)  # the same keys, client and script
    sent = Sent(monkeypatch)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(address=st.text(max_size=60), network=st.text(max_size=60), token=st.text(min_size=1, max_size=14))
    def check(address: str, network: str, token: str) -> None:
        hard, soft = counts._keys(address, network)
        sent.commands.clear()
        counts._redis_down_until = reference._redis_down_until = 0.0
        outcome = counts._take_redis(hard, soft, token)
        lean_sent = list(sent.commands)
        reference_outcome = reference._take_redis(hard, soft, token)
        assert lean_sent == sent.commands[len(lean_sent) :]  # byte for byte
        if len(lean_sent) == 0:  # neither could encode a key (latin-1): both fell back
            assert outcome == reference_outcome == (None, False) and sent.commands == []
        else:
            assert outcome[0] is not None and reference_outcome[0] is not None

    check()
    assert counts.redis.ping()


def test_the_lean_call_counts_exactly_as_the_script_call_over_several_windows(made: list[Counts]) -> None:
    limits = {
        "rate_limit_donations": "2/second;3/2 seconds",
        "rate_limit_donations_network": "4/second",
        "rate_limit_donations_global": "5/second",
    }
    lean, reference = make_counts(**limits), make_counts(ScriptCounts, **limits)
    made += [lean, reference]
    addresses = [
        ("192.0.2.1", "192.0.2.0/24"),
        ("192.0.2.2", "192.0.2.0/24"),
        ("198.51.100.7", "198.51.100.0/24"),
    ]
    decisions: list[tuple[bool, bool]] = []
    for burst in range(3):  # over one-second and two-second windows: some free, some not
        for step in range(8):
            address, network = addresses[(step * 5 + burst) % 3]
            token = f"{burst}-{step}-{uuid.uuid4().hex[:6]}"
            hard, soft = lean._keys(address, network)
            reference_hard, reference_soft = reference._keys(address, network)
            wait, over = lean._take_redis(hard, soft, token)
            reference_wait, reference_over = reference._take_redis(reference_hard, reference_soft, token)
            assert wait is not None and reference_wait is not None
            assert (wait >= 0, over) == (reference_wait >= 0, reference_over)
            assert abs(wait - reference_wait) <= 5  # the ms a refusal waits (the calls are µs apart)
            decisions.append((wait >= 0, over))
            for (key, _), (reference_key, _) in zip(
                [*hard, *soft], [*reference_hard, *reference_soft], strict=True
            ):
                # Entries are "µs:token", newest first: the same tokens in the same order, and expiry.
                assert [e.split(b":", 1)[1] for e in entries(lean, key)] == [
                    e.split(b":", 1)[1] for e in entries(reference, reference_key)
                ]
                assert abs(lean.redis.ttl(key) - reference.redis.ttl(reference_key)) <= 1
        time.sleep(1.05)
    refused, over = sum(d[0] for d in decisions), sum(d[1] for d in decisions)
    assert 0 < refused < len(decisions) and over > 0  # the sequence reached every outcome
    assert lean._redis_down_until == reference._redis_down_until == 0.0


def test_after_script_flush_the_attempt_is_counted_once_and_the_next_call_is_lean(
    monkeypatch: pytest.MonkeyPatch, made: list[Counts]
) -> None:
    counts = make_counts(rate_limit_donations="5/minute")
    made.append(counts)
    decision, keys = counts.take("192.0.2.10", "192.0.2.0/24")
    counts.redis.script_flush()  # as a fresh or failed-over Redis has no script
    script_calls: list[Any] = []
    original = counts._take

    def script(**kwargs: Any) -> Any:
        script_calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(counts, "_take", script)
    decision, keys = counts.take("192.0.2.10", "192.0.2.0/24")
    assert decision.retry_after is None and counts._redis_down_until == 0.0
    assert len(script_calls) == 1  # the NOSCRIPT fallback loaded it
    assert all(len(entries(counts, key)) == 2 for key in keys)  # counted once, not twice
    assert [e.endswith(decision.token.encode()) for e in entries(counts, keys[0])] == [True, False]
    counts.take("192.0.2.10", "192.0.2.0/24")
    assert len(script_calls) == 1  # loaded: the lean call again
    assert all(len(entries(counts, key)) == 3 for key in keys)


def connection_id(counts: Counts) -> int:
    pool = counts.redis.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("CLIENT", "ID")
        return int(connection.read_response())
    finally:
        pool.release(connection)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS.values(), ids=IMPLEMENTATIONS.keys())
def test_a_pooled_connection_killed_between_calls_is_replaced(kind: type[Counts], made: list[Counts]) -> None:
    counts = make_counts(kind, rate_limit_donations="5/minute")
    made.append(counts)
    counts.take("192.0.2.20", "192.0.2.0/24")
    killed = connection_id(counts)
    assert redis.Redis.from_url(REDIS_URL).client_kill_filter(_id=killed) == 1
    time.sleep(0.05)
    decision, keys = counts.take("192.0.2.20", "192.0.2.0/24")
    # The pool finds the closed socket when it hands the connection out, and connects afresh.
    assert decision.retry_after is None and counts._redis_down_until == 0.0
    assert len(entries(counts, keys[0])) == 2
    assert connection_id(counts) != killed


class Proxy:
    """A TCP proxy to the test Redis that can break the next reply: ``stall`` sends its first
    bytes and holds the rest until ``release`` (the client times out with a reply half read),
    ``drop`` closes the connection instead of forwarding the next command."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode: str | None = None
        self.released = threading.Event()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/15"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 6379))
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                if self.mode == "drop" and b"EVALSHA" in data:
                    self.mode = None
                    break
                upstream.sendall(data)
        except OSError:
            pass
        for each in (client, upstream):
            each.close()

    def _replies(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                if self.mode == "stall" and data.startswith(b"*2"):
                    self.mode = None
                    client.sendall(data[:3])
                    self.released.wait(5)
                    data = data[3:]
                client.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.closed = True
        self.released.set()
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    each = Proxy()
    yield each
    each.close()


@pytest.mark.parametrize("kind", IMPLEMENTATIONS.values(), ids=IMPLEMENTATIONS.keys())
@pytest.mark.parametrize("mode", ["stall", "drop"])
def test_a_reply_timing_out_or_a_connection_dropped_mid_call_falls_back_and_leaves_the_pool_clean(
    kind: type[Counts], mode: str, proxy: Proxy, made: list[Counts], caplog: pytest.LogCaptureFixture
) -> None:
    counts = make_counts(
        kind, url=proxy.url(), rate_limit_donations="1/minute", rate_limit_donations_network=""
    )
    made.append(counts)
    first, keys = counts.take("192.0.2.30", "192.0.2.0/24")
    assert first.retry_after is None
    proxy.mode = mode
    started = time.monotonic()
    # Redis refuses this one (1/minute), but the reply never arrives whole: a timeout (0.25 s)
    # or a dropped connection, so the counts fall back to this process, which has not seen the
    # address (looser, never stricter), for REDIS_RETRY_SECONDS.
    second, _ = counts.take("192.0.2.30", "192.0.2.0/24")
    assert second.retry_after is None and counts._redis_down_until > time.monotonic()
    assert time.monotonic() - started < 1.0
    assert "rate_limit_redis_down" in caplog.text
    proxy.released.set()  # the rest of the stalled refusal now arrives, on a socket nobody reads
    time.sleep(0.05)
    counts._redis_down_until = 0.0  # as if REDIS_RETRY_SECONDS had passed
    fresh, fresh_keys = counts.take("192.0.2.31", "192.0.2.0/24")
    again, _ = counts.take("192.0.2.30", "192.0.2.0/24")
    # A reused connection would read the rest of the stalled refusal, or a broken reply, as the
    # first answer here; these are Redis's own answers, in step.
    assert counts._redis_down_until == 0.0
    assert fresh.retry_after is None and again.retry_after is not None
    assert [len(entries(counts, key[0])) for key in (keys, fresh_keys)] == [1, 1]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS.values(), ids=IMPLEMENTATIONS.keys())
def test_a_connection_idle_past_the_health_check_interval_is_pinged_first(
    kind: type[Counts], monkeypatch: pytest.MonkeyPatch, made: list[Counts]
) -> None:
    counts = make_counts(kind)
    made.append(counts)
    counts.take("192.0.2.40", "192.0.2.0/24")
    pool = counts.redis.connection_pool
    connection = pool.get_connection()
    pool.release(connection)
    pings: list[float] = []
    original = connection._send_ping

    def ping() -> None:
        pings.append(time.monotonic())
        original()

    monkeypatch.setattr(connection, "_send_ping", ping)
    counts.take("192.0.2.40", "192.0.2.0/24")
    assert pings == []  # used a moment ago
    connection.next_health_check = time.monotonic() - 1  # as after health_check_interval idle
    decision, _ = counts.take("192.0.2.40", "192.0.2.0/24")
    assert len(pings) == 1 and decision.retry_after is None and counts._redis_down_until == 0.0
    assert connection.next_health_check > time.monotonic() + 29


def test_tokens_are_48_random_bits_in_12_hex_digits() -> None:
    counts = Counts(load_settings({}))
    tokens = {counts.take(f"192.0.2.{i % 200}", "192.0.2.0/24")[0].token for i in range(2000)}
    assert len(tokens) == 2000 and all(re.fullmatch(r"[0-9a-f]{12}", token) for token in tokens)
