"""Background work on Huey: applying stored webhook events, email delivery from the outbox and the
scheduled maintenance.

Why Huey (docs/operations.md has the measurements): one small, dependency-free, long-maintained
package that uses the Redis production already runs, with retries, a scheduler for periodic
tasks (so no external cron) and an immediate mode that runs tasks in-process, which is how the
SQLite demo and the test suite work with no server. The queue is only a prompt: the source of
truth is the outbox table (service/outbox.py), written in the ledger's transaction, so a message
lost between the database and Redis is still found by :func:`deliver_due` a minute later. Webhook
events work the same way: the stored ``received`` row is the source of truth, :func:`apply_event`
applies it, and :func:`apply_due_events` finds what was not handed over (service/ledger/receiving.py).

The worker is ``huey_consumer service.jobs.huey`` (the Procfile's ``worker:`` line). It builds the
app from the environment once per process; in immediate mode the task runs inside the current
app instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage

from . import extensions
from .settings import Settings

log = logging.getLogger(__name__)

# Configured by configure() before use; immediate (in-process, in-memory) until then.
huey = Huey("donation-router", immediate=True, results=False, utc=True, storage_class=MemoryStorage)
_worker_app: Flask | None = None
_worker_app_lock = threading.Lock()
# How the worker process builds its app (service/worker.py passes create_app): taken as an
# argument rather than imported, because the app's factory imports this module's CLI.
_app_factory: Callable[[], Flask] | None = None


def use_app_factory(factory: Callable[[], Flask]) -> None:
    """The worker's way to build the app it runs tasks in (the web processes have their own)."""
    global _app_factory
    _app_factory = factory


def configure(settings: Settings) -> None:
    """Point the queue at Redis (production, the worker), or run tasks in-process (demo, tests)."""
    if settings.jobs_in_process or not settings.redis_url:
        huey.immediate = True
        return
    huey.immediate = False
    # One queue per deployment, so two deployments sharing a Redis never take each other's jobs.
    huey.storage = RedisStorage(f"donation-router.{settings.deployment_id}", url=settings.redis_url)


def _enqueue_delivery(message_id: str) -> None:
    deliver_email(message_id)


@contextmanager
def _app() -> Iterator[Flask]:
    """The app whose database the task uses: the current one in-process, else the worker's own."""
    global _worker_app
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    with _worker_app_lock:
        if _worker_app is None:
            if _app_factory is None:
                raise RuntimeError("a job ran outside an app with no app factory (see service/worker.py)")
            _worker_app = _app_factory()
    with _worker_app.app_context():
        yield _worker_app


def _run(work: Any) -> Any:
    with _app() as app:
        db = extensions.database(app).sessionmaker()
        try:
            return work(app, db)
        finally:
            db.close()


@huey.task()
def apply_event(stripe_event_id: str) -> str:
    """Apply one stored Stripe event (the web request only stored it and answered Stripe)."""
    from .ledger.receiving import apply_stored

    with _app() as app:
        sessions = extensions.database(app).sessionmaker
        gateway, settings = extensions.stripe_gateway(app), extensions.settings(app)
        return apply_stored(sessions, gateway, settings, stripe_event_id).outcome


class HandOverFailed(Exception):
    """The push that carried this event's apply job failed (its leader logs and raises the cause)."""


@dataclass
class _Push:
    """Apply jobs handed over together: one Redis ``LPUSH`` for all of them.

    A push made while none is in flight carries one job and nobody waits on it, so it has no
    Events (a few µs each); one that gathers jobs has both. ``threading.Event`` is looked up when
    one is made, not when this module is imported: gevent's, once gevent patched threading.
    """

    messages: list[bytes]
    turn: threading.Event | None = None  # set when its first member may push it
    done: threading.Event | None = None  # set once pushed (or failed)
    failed: bool = False

    @classmethod
    def gathering(cls) -> _Push:
        return cls([], threading.Event(), threading.Event())


class HandOver:
    """Queues stored webhook events' apply jobs; those handed over during one push, in the next.

    A web worker under gevent stores many deliveries at once, and queuing each one's job was a
    Redis round trip of its own: under load 19 % of a gunicorn worker's samples (py-spy, wrk with
    32 connections), more than the event's INSERT. As a database's group commit does: while one
    push is on its way to Redis, the jobs handed over gather in the next one; when the push
    returns, the first of them pushes them all with one ``LPUSH`` (in order: the worker still
    takes them first come, first served). With nothing in flight a job is pushed at once, so a
    request waits at most for the push in flight and then its own; and each answers only once
    its job is queued, or once queuing failed, which loses nothing: the stored row is the outbox
    (receiving.py: ``apply_due``).
    In immediate mode (no Redis: the demo, most tests) the job runs in-process, as before.
    """

    # How long a request waits for a push (Redis's own timeouts end a push sooner).
    WAIT_SECONDS = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pushing = False  # a push is on its way to Redis
        self._next: _Push | None = None  # the jobs gathered meanwhile

    def __call__(self, stripe_event_id: str) -> bool:
        """Queue the event's apply job; True if it already ran (immediate mode)."""
        if huey.immediate:
            apply_event(stripe_event_id)
            return True
        # What huey.enqueue stores for a task without an expiry (no signal handlers here).
        message = huey.serialize_task(apply_event.s(stripe_event_id))
        with self._lock:
            if not self._pushing:
                self._pushing, push, first = True, _Push([message]), True
            else:
                push, first = self._next, self._next is None
                if push is None:
                    push = self._next = _Push.gathering()
                push.messages.append(message)
        if first:
            try:
                if push.turn is not None:
                    # Past the wait, push anyway: a lost turn must not hold jobs back (order
                    # across two pushes does not matter; within one it is kept).
                    push.turn.wait(self.WAIT_SECONDS)
            finally:
                self._push(push)  # even if this request is killed: the others wait on it
        elif push.done is None or not push.done.wait(self.WAIT_SECONDS) or push.failed:
            raise HandOverFailed(stripe_event_id)
        return False

    def _push(self, push: _Push) -> None:
        with self._lock:
            if self._next is push:
                self._next = None  # closed: what comes now gathers in the next push
        try:
            storage = huey.storage
            if len(push.messages) > 1 and isinstance(storage, RedisStorage):
                storage.conn.lpush(storage.queue_key, *push.messages)  # one round trip, in order
            else:
                for message in push.messages:
                    storage.enqueue(message)
        except BaseException:
            push.failed = True
            raise
        finally:
            if push.done is not None:
                push.done.set()
            with self._lock:
                if self._next is None:
                    self._pushing = False
                elif self._next.turn is not None:
                    self._next.turn.set()  # its first member pushes it


hand_over_event = HandOver()


@huey.task()
def deliver_email(message_id: str) -> str | None:
    from .email_delivery import deliver
    from .outbox import MessageStatus, OutboxMessage

    def work(app: Flask, db: Any) -> str | None:
        settings = extensions.settings(app)
        status = deliver(db, settings, message_id)
        if status == MessageStatus.PENDING and not huey.immediate:
            row = db.get(OutboxMessage, message_id, populate_existing=True)
            delay = max((row.next_attempt_at - _now()).total_seconds(), 1) if row else 60
            deliver_email.schedule((message_id,), delay=delay)
        return status

    return _run(work)


def _now() -> Any:
    from .models import utcnow

    return utcnow()


@huey.periodic_task(crontab(minute="*"))
def deliver_due() -> int:
    """Every minute: whatever is due and was not handed over (or whose worker died) is sent."""
    from .email_delivery import deliver
    from .outbox import due_ids

    def work(app: Flask, db: Any) -> int:
        settings = extensions.settings(app)
        ids = due_ids(db)
        db.rollback()
        for message_id in ids:
            deliver(db, settings, message_id)
        return len(ids)

    return _run(work)


def _cli(*args: str) -> None:
    """Run an operator command exactly as `flask ...` would, so schedule and hand use share one path."""
    from flask.cli import ScriptInfo

    with _app() as app:
        try:
            app.cli.main(args=list(args), obj=ScriptInfo(create_app=lambda: app), standalone_mode=False)
            exit_code = 0
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else 1
        level = logging.INFO if exit_code == 0 else logging.ERROR
        log.log(level, "scheduled_command", extra={"command": " ".join(args), "exit_code": exit_code})


# The schedule docs/webhooks.md and docs/operations.md describe; each command is idempotent, so an
# overlapping or repeated run changes nothing that is already right.
@huey.periodic_task(crontab(minute="*/10"))
def sweep_donations() -> None:
    _cli("donations", "sweep")


@huey.periodic_task(crontab(minute="*/15"))
def sync_stripe_events() -> None:
    _cli("stripe", "sync-events", "--since", "3d")


@huey.periodic_task(crontab(minute="*"))
def apply_due_events() -> None:
    # Webhook events not handed over, or failed and due again (back-off, then needs_review).
    _cli("webhooks", "apply-due")


@huey.periodic_task(crontab(minute="40", hour="3"))
def retention() -> None:
    _cli("retention", "run")


@huey.periodic_task(crontab(minute="10", hour="6"))
def annual_statements() -> None:
    # Daily, but only the first weeks after a tax year ends queue anything (service/statements.py).
    _cli("mail", "statements")


def init_jobs(app: Flask, settings: Settings) -> None:
    from .ledger.receiving import install_hand_over
    from .outbox import install_commit_hook

    configure(settings)
    install_commit_hook(_enqueue_delivery)
    install_hand_over(hand_over_event, lambda: not huey.immediate)
