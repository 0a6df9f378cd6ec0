"""All sandbox state: Stripe objects by id, side tables, idempotency results.

One re-entrant lock guards everything; handlers are tiny, so serialising them
costs little and keeps multi-object flows (session -> payment intent -> charge)
consistent. ``--state FILE`` persists it as JSON, written atomically.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from sandbox.errors import not_found

# Recorded API requests are capped so a benchmark run cannot exhaust memory.
MAX_RECORDED_REQUESTS = 20_000
# Writes to the state file are batched: rewriting the whole file on every call
# would make each request cost O(state size).
SAVE_DELAY = 0.2

_NAMES = {
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "balance_transaction": "balance transaction",
}


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self._save_lock = threading.Lock()
        self._save_timer: threading.Timer | None = None
        self.clear()
        if self.path and self.path.exists():
            self.load()

    def clear(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, Any]] = {}
            self.order: dict[str, list[str]] = {}
            # Relationships Stripe keeps but does not show on the object itself,
            # e.g. which balance transactions a payout swept up.
            self.tables: dict[str, dict[str, Any]] = {}
            self.idempotency: dict[str, dict[str, Any]] = {}
            self.requests: list[dict[str, Any]] = []

    # -- objects -------------------------------------------------------------
    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if obj["id"] not in self.objects:
                self.order.setdefault(obj["object"], []).append(obj["id"])
            self.objects[obj["id"]] = obj
            return obj

    def get(self, obj_id: str) -> dict[str, Any] | None:
        return self.objects.get(obj_id)

    def require(self, obj_id: str, kind: str, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(obj_id)
        if obj is None or obj.get("object") != kind:
            raise not_found(_NAMES.get(kind, kind.replace("_", " ")), obj_id, param)
        return obj

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        """Objects of one kind, newest first (Stripe's list order)."""
        with self.lock:
            return [self.objects[i] for i in reversed(self.order.get(kind, []))]

    def table(self, name: str) -> dict[str, Any]:
        with self.lock:
            return self.tables.setdefault(name, {})

    # -- recorded requests -----------------------------------------------------
    def record_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > MAX_RECORDED_REQUESTS:
                del self.requests[: len(self.requests) - MAX_RECORDED_REQUESTS]

    # -- persistence -----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "objects": self.objects,
                    "order": self.order,
                    "tables": self.tables,
                    "idempotency": self.idempotency,
                }
            )

    def save(self) -> None:
        """Write the state file soon (within SAVE_DELAY); ``flush`` writes it now."""
        if not self.path:
            return
        with self._save_lock:
            if self._save_timer is None:
                self._save_timer = threading.Timer(SAVE_DELAY, self.flush)
                self._save_timer.daemon = True
                self._save_timer.start()

    def flush(self) -> None:
        with self._save_lock:
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
        if not self.path:
            return
        with self.lock:
            data = json.dumps(self.snapshot(), separators=(",", ":"))
            # Write next to the target, then rename: a crash never leaves half a file.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def load(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text(encoding="utf-8"))
        with self.lock:
            self.objects = data.get("objects", {})
            self.order = data.get("order", {})
            self.tables = data.get("tables", {})
            self.idempotency = data.get("idempotency", {})
