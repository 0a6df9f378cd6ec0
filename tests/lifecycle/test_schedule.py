"""The scheduled work runs on Huey's scheduler in the worker (no external cron): each periodic
task fires at the time docs/operations.md gives and runs the real `flask ...` command."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from service import jobs

# (task, UTC minute it must fire at, one minute it must not, the command it runs) as documented.
SCHEDULE = [
    ("sweep_donations", datetime(2026, 12, 7, 0, 10), datetime(2026, 12, 7, 0, 11), "donations sweep"),
    ("sync_stripe_events", datetime(2026, 12, 7, 0, 15), datetime(2026, 12, 7, 0, 10), "stripe sync-events --since 3d"),
    ("apply_due_events", datetime(2026, 12, 7, 13, 6), None, "webhooks apply-due"),
    ("retention", datetime(2026, 12, 7, 3, 40), datetime(2026, 12, 7, 4, 40), "retention run"),
    ("annual_statements", datetime(2026, 12, 7, 6, 10), datetime(2026, 12, 7, 7, 10), "mail statements"),
    ("deliver_due", datetime(2026, 12, 7, 6, 11), None, None),
]  # fmt: skip


@pytest.mark.parametrize(("task", "due", "not_due", "command"), SCHEDULE, ids=[row[0] for row in SCHEDULE])
def test_each_job_is_on_hueys_schedule(
    task: str, due: datetime, not_due: datetime | None, command: str | None
) -> None:
    assert task in {t.name for t in jobs.huey.read_periodic(due)}
    if not_due is not None:
        assert task not in {t.name for t in jobs.huey.read_periodic(not_due)}


@pytest.mark.parametrize(
    ("task", "command"),
    [(row[0], row[3]) for row in SCHEDULE if row[3]],
    ids=[row[0] for row in SCHEDULE if row[3]],
)
def test_each_scheduled_job_runs_its_command_for_real(app: Any, caplog: Any, task: str, command: str) -> None:
    caplog.set_level(logging.INFO, logger="service.jobs")
    with app.app_context():
        getattr(jobs, task).call_local()
    (record,) = [r for r in caplog.records if r.getMessage() == "scheduled_command"]
    assert (record.command, record.exit_code) == (command, 0)


def test_the_periodic_tasks_are_all_documented(repo_root: Any) -> None:
    operations = (repo_root / "docs" / "operations.md").read_text()
    for _task, _due, _not_due, command in SCHEDULE:
        if command:
            assert f"`flask {command}" in operations, command
    periodic = {t.__name__ for t in jobs.huey._registry._periodic_tasks}
    assert periodic == {row[0] for row in SCHEDULE}
