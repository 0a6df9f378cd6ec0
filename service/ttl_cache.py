"""A small per-process cache whose entries live ``ttl`` seconds (live progress uses it, see
service/progress.py), with one lock per key so one request recomputes and the others wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TTLCache:
    """A tiny per-process cache with one lock per key, so one request recomputes and others wait."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl:
            return entry[1]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry[0] < self.ttl:
                return entry[1]
            value = compute()
            self._entries[key] = (self._clock(), value)
            return value

    def fresh(self, key: str) -> Any | None:
        """The entry for ``key`` if it has not expired, else None; never computes or waits."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl:
            return entry[1]
        return None

    def clear(self) -> None:
        self._entries.clear()
