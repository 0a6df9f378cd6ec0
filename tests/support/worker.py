"""The real job worker (``huey_consumer service.worker.huey``) in a subprocess, for tests that run
the production shape: web process and worker sharing PostgreSQL and a Redis queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from service import extensions

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    """Poll ``check()`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def start_worker(app: Any, name: str, threads: int = 1) -> subprocess.Popen[bytes]:
    """The Procfile's worker for ``app``'s database, Redis queue and Stripe (its log in test-artifacts/)."""
    settings = extensions.settings(app)
    values = {
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "MAIL_URL": settings.mail_url,
        "MAIL_FROM": settings.mail_from,
        "DEPLOYMENT_ID": settings.deployment_id,
        "STRIPE_API_BASE": settings.stripe_api_base,
        "STRIPE_SECRET_KEY": settings.stripe_secret_key,
        "SECRET_KEY": settings.secret_key,
        "PUBLIC_BASE_URL": settings.public_base_url,
    }
    env = {**os.environ, **{k: v for k, v in values.items() if v is not None}}
    ARTIFACTS.mkdir(exist_ok=True)
    # The worker keeps its own copy of the log's descriptor; ours is closed once it has started.
    with (ARTIFACTS / f"huey-worker-{name}-{os.getpid()}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "huey.bin.huey_consumer", "service.worker.huey",
             "-w", str(threads), "-k", "thread"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=15)
