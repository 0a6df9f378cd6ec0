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


def hand_over_event(stripe_event_id: str) -> bool:
    """Queue a stored webhook event's apply job; True if it already ran (immediate mode)."""
    apply_event(stripe_event_id)
    return huey.immediate


@huey.task()
def apply_event(stripe_event_id: str) -> str:
    """Apply one stored Stripe event (the web request only stored it and answered Stripe)."""
    from .ledger.receiving import apply_stored

    with _app() as app:
        sessions = extensions.database(app).sessionmaker
        gateway, settings = extensions.stripe_gateway(app), extensions.settings(app)
        return apply_stored(sessions, gateway, settings, stripe_event_id).outcome


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
