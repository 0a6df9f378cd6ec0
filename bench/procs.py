"""Processes for a benchmark run: gunicorn, wrk, and the CPU time they used (from /proc); when
Stripe calls reached the sandbox (its request log), per calendar and per sliding second."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = Path(__file__).resolve().parent / "lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of the given processes (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def cpu_by_name(*names: str) -> dict[int, float]:
    """CPU seconds so far of every process whose name (``/proc/PID/comm``) is one of ``names``, by
    pid: PostgreSQL's backends (``postgres``) and ``redis-server``, which share the benchmark's two
    cores with the service."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found[int(entry.name)] = cpu_seconds([int(entry.name)])
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two :func:`cpu_by_name` readings: each process's growth, all of a new
    one's; a process gone by the second reading is not counted (a pooled backend stays)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Gunicorn:
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_gunicorn(app: str, env: dict[str, str], port: int, log_file: Path | None = None) -> Gunicorn:
    out = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115 - kept open for the child
    full_env = {**os.environ, **env, "PORT": str(port)}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a busy 2-core machine boots slowly
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/livez", timeout=1)  # noqa: S310 - loopback
            time.sleep(0.5)  # let the second worker finish booting too
            return Gunicorn(proc, url)
        except OSError as exc:
            if getattr(exc, "code", None) == 404:  # the baseline app has no /livez: it is up
                time.sleep(0.5)
                return Gunicorn(proc, url)
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn {app} did not start")


def wait_until_idle(url: str, limit: float = 60.0) -> None:
    """Let the server finish what an earlier run queued, so runs do not pollute each other."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.monotonic()
        with contextlib.suppress(OSError):  # the baseline app answers 404: still an answer
            urllib.request.urlopen(url + "/livez", timeout=5)  # noqa: S310 - loopback
        if time.monotonic() - started < 0.05:
            return
        time.sleep(1)


def run_wrk(
    url: str,
    script: str,
    *,
    connections: int,
    seconds: int,
    max_requests: int = 0,
    threads: int = 2,
    extra_env: dict[str, str] | None = None,
    measure: list[int] | None = None,
) -> dict:
    """One bounded wrk run; returns its JSON line plus throughput, CPU per request and load."""
    env = {
        **os.environ,
        "BENCH_LUA_DIR": str(LUA_DIR),
        "BENCH_MAX_REQUESTS": str(max_requests // threads if max_requests else 0),
        "BENCH_THREADS": str(threads),
        **(extra_env or {}),
    }
    pids = measure or []
    wait_until_idle(url)
    load_before = load_average()
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA_DIR / script), url],
        env=env, capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    wall = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu_before
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    result = json.loads(line[len("BENCH_JSON ") :])
    # Scenarios of several requests per donation (donate_form_offer.lua) count whole donations.
    flows = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_DONATIONS ")), None)
    if flows is not None:
        result.update(json.loads(flows[len("BENCH_DONATIONS ") :]))
    seconds_run = result["duration_us"] / 1e6
    errors = result["http_errors"] + sum(result[k] for k in ("connect", "read", "write", "timeout"))
    result.update(
        connections=connections,
        wall_s=round(wall, 1),
        rps=round(result["requests"] / seconds_run, 1),
        errors=errors,
        service_cpu_s=round(cpu, 2),
        cpu_ms_per_request=round(cpu * 1000 / max(1, result["requests"]), 3),
        **(
            {
                "donations_per_s": round(result["donations"] / seconds_run, 1),
                "cpu_ms_per_donation": round(cpu * 1000 / max(1, result["donations"]), 3),
            }
            if "donations" in result
            else {}
        ),
        load_before=load_before,
        load_after=load_average(),
    )
    return result


def stripe_arrivals(sandbox_log: Path) -> tuple[list[datetime], Counter[str]]:
    """When each Stripe API call reached the sandbox, oldest first, and the statuses it answered.

    The sandbox logs ``date time METHOD PATH STATUS 301.2ms`` when it answers; arrival is that
    time less the milliseconds it spent, the moment Stripe's own limiter would count the call.
    """
    arrivals: list[datetime] = []
    statuses: Counter[str] = Counter()
    for line in sandbox_log.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 6 or not parts[3].startswith("/v1/"):
            continue
        answered = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y-%m-%d %H:%M:%S,%f")
        arrivals.append(answered - timedelta(milliseconds=float(parts[5].rstrip("ms"))))
        statuses[parts[4]] += 1
    return sorted(arrivals), statuses


def calls_per_second(arrivals: list[datetime]) -> Counter[str]:
    """Calls by the calendar second (HH:MM:SS) they arrived in."""
    return Counter(a.strftime("%H:%M:%S") for a in arrivals)


def busiest_second(arrivals: list[datetime]) -> tuple[int, int]:
    """(most calls in one calendar second, most in any sliding window shorter than a second:
    the sandbox's limiter and the strictest reading of Stripe's)."""
    sliding, start = 0, 0
    for end, arrived in enumerate(arrivals):
        while arrived - arrivals[start] >= timedelta(seconds=1):
            start += 1
        sliding = max(sliding, end - start + 1)
    return max(calls_per_second(arrivals).values(), default=0), sliding
