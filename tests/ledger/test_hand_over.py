"""The webhook apply jobs' hand-over to Redis (service/jobs.py: ``HandOver``): one push at a time,
the jobs handed over meanwhile gathered into the next push, every job queued once and in order,
and each request told when the push carrying its job failed (the stored row stays the outbox)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from huey.storage import RedisStorage
from redis.exceptions import ConnectionError as RedisConnectionError

from service.jobs import HandOver, HandOverFailed, huey
from tests.support.worker import REDIS_URL, wait_for


@pytest.fixture
def queue(app: Any) -> Iterator[RedisStorage]:
    """Huey on a Redis queue of its own (no worker reads it), put back to in-process afterwards."""
    was_immediate, was_storage = huey.immediate, huey.storage
    huey.immediate = False
    huey.storage = RedisStorage(f"test-hand-over-{secrets.token_hex(4)}", url=REDIS_URL)
    yield huey.storage
    huey.storage.flush_all()
    huey.immediate = was_immediate
    huey.storage = was_storage


def queued_ids(storage: RedisStorage) -> list[str]:
    """The queued apply jobs' event ids, in the order the worker takes them."""
    ids = []
    while (data := storage.dequeue()) is not None:
        task = huey.deserialize_task(data)
        assert task.name == "apply_event"
        ids.append(task.args[0])
    return ids


class SlowRedis:
    """Holds each push until released, and records what every push carried."""

    def __init__(self, storage: RedisStorage, monkeypatch: pytest.MonkeyPatch):
        self.pushes: list[int] = []
        self.release = threading.Event()
        self.fail_on: set[int] = set()  # the numbers (from 1) of the pushes that fail
        real = storage.conn.lpush

        def lpush(key: str, *values: bytes) -> Any:
            self.pushes.append(len(values))
            self.release.wait(5)
            if len(self.pushes) in self.fail_on:
                raise RedisConnectionError("Redis went away")
            return real(key, *values)

        monkeypatch.setattr(storage.conn, "lpush", lpush)


def hand_over_in_thread(hand_over: HandOver, event_id: str, results: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[event_id] = hand_over(event_id)
        except Exception as exc:  # noqa: BLE001 - recorded for the test to look at
            results[event_id] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_in_immediate_mode_the_job_runs_in_process(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.ledger import receiving

    ran: list[str] = []

    def applied(sessions: Any, gateway: Any, settings: Any, event_id: str) -> Any:
        ran.append(event_id)
        return receiving.Outcome(event_id, "processed")

    monkeypatch.setattr(receiving, "apply_stored", applied)
    assert huey.immediate
    with app.app_context():
        assert HandOver()("evt_now") is True
    assert ran == ["evt_now"]


def test_one_at_a_time_each_job_is_pushed_at_once(queue: RedisStorage) -> None:
    hand_over = HandOver()
    assert [hand_over(f"evt_{i}") for i in range(3)] == [False, False, False]
    assert queued_ids(queue) == ["evt_0", "evt_1", "evt_2"]


def test_jobs_handed_over_during_a_push_go_together_in_the_next(
    queue: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = SlowRedis(queue, monkeypatch)
    monkeypatch.setattr(queue, "enqueue", lambda data, priority=None: queue.conn.lpush(queue.queue_key, data))
    hand_over, results = HandOver(), {}
    first = hand_over_in_thread(hand_over, "evt_a", results)
    wait_for(lambda: redis.pushes == [1])  # a's push is on its way
    later = [hand_over_in_thread(hand_over, event_id, results) for event_id in ("evt_b", "evt_c", "evt_d")]
    wait_for(lambda: hand_over._next is not None and len(hand_over._next.messages) == 3)
    assert results == {}  # nobody answered before its job was pushed
    redis.release.set()
    for thread in (first, *later):
        thread.join(5)
    assert redis.pushes == [1, 3]  # two round trips for four jobs
    assert results == {"evt_a": False, "evt_b": False, "evt_c": False, "evt_d": False}
    assert sorted(queued_ids(queue)[1:]) == ["evt_b", "evt_c", "evt_d"]
    assert not hand_over._pushing and hand_over._next is None  # idle again: the next is pushed at once


def test_a_failed_push_fails_every_hand_over_it_carried_and_no_other(
    queue: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = SlowRedis(queue, monkeypatch)
    monkeypatch.setattr(queue, "enqueue", lambda data, priority=None: queue.conn.lpush(queue.queue_key, data))
    redis.fail_on = {2}
    hand_over, results = HandOver(), {}
    first = hand_over_in_thread(hand_over, "evt_a", results)
    wait_for(lambda: redis.pushes == [1])
    later = [hand_over_in_thread(hand_over, event_id, results) for event_id in ("evt_b", "evt_c")]
    wait_for(lambda: hand_over._next is not None and len(hand_over._next.messages) == 2)
    redis.release.set()
    for thread in (first, *later):
        thread.join(5)
    assert results["evt_a"] is False
    # The request that pushed sees Redis's error, the other one that its push failed: both are
    # logged by receiving._hand_over_safely and their events applied by apply_due.
    failures = {type(results["evt_b"]), type(results["evt_c"])}
    assert failures == {RedisConnectionError, HandOverFailed}
    assert queued_ids(queue) == ["evt_a"]
    assert hand_over("evt_e") is False  # the hand-over is usable again
    assert queued_ids(queue) == ["evt_e"]
