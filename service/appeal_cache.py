"""Appeals for the donation path, kept for a few seconds in each worker.

Every donation needs its appeal's limits, currencies and wording; appeals change a few times a
day while donations may arrive hundreds of times a second, and the lookup was a tenth of a
donation's CPU. An appeal found in the database is kept for ``appeal_cache_seconds`` (default 5;
0 turns the cache off), so closing or editing one reaches every worker within that time. A slug
that is not found is never cached: a new appeal can take donations at once.

The cached instance stays detached; each request gets its own copy through
``Session.merge(load=False)``, which costs no query and shares no state between requests.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from .appeals import find_appeal
from .models import Appeal


def _detached_copy(appeal: Appeal) -> Appeal:
    copy = Appeal(**{attr.key: getattr(appeal, attr.key) for attr in inspect(Appeal).column_attrs})
    make_transient_to_detached(copy)
    return copy


class AppealCache:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Appeal]] = {}
        self._lock = threading.Lock()

    def find(self, db: Session, slug: str) -> Appeal | None:
        """The appeal with ``slug`` as an instance of ``db``, or None if there is none."""
        if self.seconds <= 0:
            return find_appeal(db, slug)
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > time.monotonic():
            return db.merge(entry[1], load=False)
        appeal = find_appeal(db, slug)
        if appeal is None:
            return None
        with self._lock:
            self._entries[slug] = (time.monotonic() + self.seconds, _detached_copy(appeal))
        return appeal

    def peek(self, slug: str) -> Appeal | None:
        """The cached, detached copy of the appeal, read-only, without touching the database
        (error pages brand themselves with it while the database may be failing)."""
        entry = self._entries.get(slug)
        return entry[1] if entry is not None else None

    def clear(self) -> None:
        """Forget every appeal (after this process changed one)."""
        with self._lock:
            self._entries.clear()
