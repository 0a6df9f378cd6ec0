"""A pytest plugin: keep every log line of the test run, then fail the run if a secret leaked.

Every record that reaches the root logger in any test process is written, as the service's JSON
line plus any exception text, to ``test-artifacts/test-run-<worker>.log``; logs of servers the
tests start in subprocesses (gunicorn) are copied into ``test-artifacts/`` as well. When the
whole session ends, the main process merges the workers' files into ``test-run.log`` and scans
everything for Stripe keys, webhook secrets, signatures, bearer tokens and email addresses. Any
hit fails the run, naming the file, line and kind (never the value itself).
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

from service.logging_setup import JsonFormatter

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
MERGED = ARTIFACTS / "test-run.log"

# Values the suite itself uses, looked for literally, plus the shapes of any such value.
KNOWN_SECRETS = (
    "sk_test_suite",
    "sk_test_sandbox",
    "whsec_test_suite_secret",
    "whsec_test_receiver",
    "test-secret-key-that-is-long-enough-for-tests",
)
LEAK_PATTERNS: dict[str, re.Pattern[str]] = {
    "stripe_key": re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]"),
    "webhook_secret": re.compile(r"\bwhsec_[A-Za-z0-9]"),
    "stripe_signature": re.compile(r"\bv1=[0-9a-f]{64}\b|\bt=\d{9,},v1="),
    "bearer_token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
}


class CaptureFormatter(JsonFormatter):
    """The service's JSON line, plus the exception's text, which the service's line leaves out."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.exc_text:
            line += "\n    exception: " + record.exc_text.replace("\n", "\n    ")
        elif record.exc_info and record.exc_info[1] is not None:
            line += "\n    exception: " + self.formatException(record.exc_info).replace("\n", "\n    ")
        return line


def find_leaks(text: str) -> list[tuple[int, str]]:
    """(line number, kind) for each line holding a secret-looking value or an email address."""
    leaks: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        kinds = [kind for kind, pattern in LEAK_PATTERNS.items() if pattern.search(line)]
        kinds += ["known_test_secret" for secret in KNOWN_SECRETS if secret in line]
        leaks.extend((number, kind) for kind in dict.fromkeys(kinds))
    return leaks


def _worker(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def pytest_configure(config: pytest.Config) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    worker = _worker(config)
    if worker is None:
        # One id per run, inherited by xdist workers, so two runs in one checkout keep apart.
        os.environ[RUN_ID] = f"{os.getpid()}-{int(time.time())}"
        for old in ARTIFACTS.glob("gunicorn-*.log"):
            if time.time() - old.stat().st_mtime > 3600:
                old.unlink(missing_ok=True)
    run = os.environ.get(RUN_ID, "solo")
    handler = logging.FileHandler(ARTIFACTS / f"test-run-{run}-{worker or 'main'}.log", encoding="utf-8")
    handler.setFormatter(CaptureFormatter())
    handler.set_name("test-run-capture")
    logging.getLogger().addHandler(handler)
    config.stash[_HANDLER] = handler
    config.stash[_STARTED] = time.time()


_HANDLER = pytest.StashKey[logging.Handler]()
_STARTED = pytest.StashKey[float]()
RUN_ID = "DONATION_ROUTER_TEST_RUN"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    handler = config.stash.get(_HANDLER, None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if _worker(config) is not None:
        return
    parts = sorted(ARTIFACTS.glob(f"test-run-{os.environ.get(RUN_ID, 'solo')}-*.log"))
    with MERGED.open("w", encoding="utf-8") as merged:
        for part in parts:
            merged.write(part.read_text(encoding="utf-8"))
    for part in parts:
        part.unlink()
    problems = []
    started = config.stash.get(_STARTED, 0.0)
    servers = [p for p in ARTIFACTS.glob("gunicorn-*.log") if p.stat().st_mtime >= started]
    for path in [MERGED, *sorted(servers)]:
        for number, kind in find_leaks(path.read_text(encoding="utf-8", errors="replace")):
            problems.append(f"{path.relative_to(ARTIFACTS.parent)}:{number}: {kind}")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        if reporter is not None:
            reporter.write_sep("=", "secrets or personal data in the test run's logs", red=True)
            for problem in problems[:50]:
                reporter.write_line(problem)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_sep("-", f"log check: no secrets or emails in the logs of {len(parts)} process(es)")
