"""Load and fault switches: added latency, a global rate limit, injected failures."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULT_MODES = ("error", "hang", "lose_response")


@dataclass
class Fault:
    """Make the next ``remaining`` API calls under ``path_prefix`` misbehave.

    error: answer ``status`` (500) before doing anything. hang: wait ``seconds``
    (or until released), then carry on normally. lose_response: do the work,
    then drop the connection (``drop=True``) or answer 500, as when Stripe
    created the object but the response never reached the client.
    """

    mode: str
    remaining: int = 1
    path_prefix: str = "/v1/"
    method: str | None = None
    status: int = 500
    seconds: float | None = None
    drop: bool = True
    release: threading.Event = field(default_factory=threading.Event, repr=False)

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "remaining": self.remaining,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "status": self.status,
            "seconds": self.seconds,
            "drop": self.drop,
        }


class Faults:
    def __init__(self, latency_ms: float = 0.0, rate_limit: int = 0) -> None:
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._recent: deque[float] = deque()

    def clear(self) -> None:
        self.release_all()
        with self._lock:
            self._faults.clear()

    def add(self, fault: Fault) -> None:
        if fault.mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        with self._lock:
            self._faults.append(fault)

    def release_all(self) -> None:
        """Let every hanging request carry on."""
        with self._lock:
            for fault in self._faults:
                fault.release.set()
            self._faults = [f for f in self._faults if f.mode != "hang"]

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this call, counting it down."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or not path.startswith(fault.path_prefix):
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0 and fault.mode != "hang":
                    self._faults.remove(fault)
                return fault
        return None

    def over_rate_limit(self) -> bool:
        """Sliding one-second window over all API calls."""
        if self.rate_limit <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                return True
            self._recent.append(now)
            return False

    def sleep_latency(self, since: float | None = None) -> None:
        """Sleep the configured latency, less what has passed ``since`` (a monotonic time)."""
        if self.latency_ms <= 0:
            return
        remaining = self.latency_ms / 1000
        if since is not None:
            remaining -= time.monotonic() - since
        if remaining > 0:
            time.sleep(remaining)
