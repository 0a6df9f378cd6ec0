"""``scripts/demo`` stops cleanly on SIGTERM, as it does on Ctrl-C: both servers stopped, both ports
free, no process of its left behind (a process manager or ``timeout`` sends SIGTERM, not Ctrl-C)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import ARTIFACTS, ROOT, free_port


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/demo exited early: {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered: {log.read_text()[-2000:]}")


# scripts/demo as a terminal starts it, with Ctrl-C's SIGINT at its default. A suite started as a
# background job of a script (`.ci/run &` in a shell without job control) has SIGINT ignored, and
# a signal ignored when a shell starts can never be trapped: the script would not see the SIGINT
# this test sends. Python resets it and execs the script in its place (the same pid).
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv('scripts/demo', ['scripts/demo'])",
]


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_stops_both_servers_and_frees_both_ports(tmp_path: Path, sent: signal.Signals) -> None:
    port, sandbox_port = free_port(), free_port()
    log = ARTIFACTS / f"demo-{port}.log"
    log.parent.mkdir(exist_ok=True)
    (tmp_path / "metrics").mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PROMETHEUS_", "DATABASE_"))},
        "DEMO_SKIP_BOOTSTRAP": "1",
        "PORT": str(port),
        "SANDBOX_PORT": str(sandbox_port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "SANDBOX_STATE": str(tmp_path / "sandbox-state.json"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with log.open("wb") as out:
        # Its own session, so a failing test can still clean up everything it started.
        demo = subprocess.Popen(
            AS_FROM_A_TERMINAL,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/livez", demo, log)
        wait_until_up(f"http://127.0.0.1:{sandbox_port}/", demo, log)
        started = descendants(demo.pid)
        assert len(started) >= 3, started  # the sandbox, gunicorn's arbiter and its worker

        # Sent to the script alone, as `kill PID` does: the script must pass it on itself.
        demo.send_signal(sent)
        assert demo.wait(timeout=30) == 128 + sent

        assert [pid for pid in started if alive(pid)] == []
        assert port_is_free(port) and port_is_free(sandbox_port)
    finally:
        if demo.poll() is None or any(alive(pid) for pid in descendants(demo.pid)):
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
