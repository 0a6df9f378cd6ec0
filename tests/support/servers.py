"""Running the service behind real HTTP servers for tests: Werkzeug in a thread (``serving_webhooks``,
behind the ``live_server`` fixture), or gunicorn in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from service.settings import Settings
from tests.support.settings import TEST_WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """What the ``live_server`` fixture gives: the app it serves and where (``http://127.0.0.1:PORT``)."""

    url: str
    app: Any


class ThreadedServer:
    """``app`` served by Werkzeug's threaded server on a free loopback port."""

    def __init__(self, app: Any):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-app", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextmanager
def serving_webhooks(app: Any, sandbox: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port and point the sandbox's webhooks at it; yields the URL."""
    server = ThreadedServer(app)
    sandbox.control.configure_webhooks(
        urls=[f"{server.base_url}/webhooks/stripe"], secrets=[TEST_WEBHOOK_SECRET]
    )
    try:
        yield server.base_url
    finally:
        sandbox.control.configure_webhooks(urls=[], duplicate=False, out_of_order=False, delay=0)
        sandbox.control.wait_for_webhooks(timeout=5)
        server.stop()


def service_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make ``load_settings`` rebuild the test settings."""
    return {
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "STRIPE_SECRET_KEY": settings.stripe_secret_key,
        "STRIPE_WEBHOOK_SECRET": ",".join(settings.stripe_webhook_secrets),
        "STRIPE_API_BASE": settings.stripe_api_base,
        "STRIPE_TIMEOUT_SECONDS": str(settings.stripe_timeout_seconds),
        "STRIPE_MAX_RETRIES": str(settings.stripe_max_retries),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "SECRET_KEY": settings.secret_key,
        "DATABASE_POOL_SIZE": "3",
        "RATE_LIMIT_DONATIONS": settings.rate_limit_donations,
        "LOG_LEVEL": "INFO",
    }


class GunicornServer:
    """gunicorn with gunicorn.conf.py, its output in a file; ``worker_pids()`` for fault tests."""

    def __init__(self, settings: Settings, tmp_path: Path, env: dict[str, str]):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Kept with the test run's logs, so the final log check reads the server's lines too.
        self.log_path = ARTIFACTS / f"gunicorn-{self.port}.log"
        self.metrics_dir = tmp_path / f"metrics-{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PROMETHEUS_"))},
            **service_env(settings),
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> None:
        # The child keeps its own copy of the file descriptor; ours is closed once it has started.
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    "gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "wsgi:app",
                ],  # fmt: skip
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.base_url}/livez", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start: {self.log_path.read_text()[-2000:]}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    def wait_for_workers(self, count: int, timeout: float = 20) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= count:
                return pids
            time.sleep(0.1)
        raise RuntimeError("gunicorn workers did not start")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # quick shutdown: nothing here needs draining
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
