"""Appeals for the donation path, kept for a few seconds in each worker.

Every donation needs its appeal's limits, currencies and wording; appeals change a few times a
day while donations may arrive hundreds of times a second, and the lookup was a tenth of a
donation's CPU. An appeal found in the database is kept for ``appeal_cache_seconds`` (default 5;
0 turns the cache off), so closing or editing one reaches every worker within that time. A slug
that is not found is never cached: a new appeal can take donations at once.

The cached instance stays detached. ``find`` gives each request its own copy through
``Session.merge(load=False)``, which costs no query and shares no state between requests;
``find_read_only`` gives the cached instance itself to code that only reads it (creating a
donation, the hottest path), and a listener refuses any change to it.

When an entry expires, one request reads the appeal again and the others keep the copy they had
until it is back (at most ``REFRESH_SECONDS``, then another request tries: a read that failed or
hangs must not keep an old copy for long). Without that, every donation in flight in a worker
when the entry expired read the same row at once: a hundred reads under gevent every few
seconds, each leaving its session in a transaction so that its INSERT took SQLAlchemy's slower
path (service/donations/writes.py), which was 9 % of a donation's CPU in bench.profile_served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from .appeals import find_appeal
from .models import Appeal


def _detached_copy(appeal: Appeal) -> Appeal:
    copy = Appeal(**{attr.key: getattr(appeal, attr.key) for attr in inspect(Appeal).column_attrs})
    make_transient_to_detached(copy)
    return copy


SHARED = "appeal_cache_shared"


class SharedAppealChanged(RuntimeError):
    """Code changed the appeal every request of the process shares (``find_read_only``'s)."""


def _refuse_change_of_shared(target: Appeal, value: object, oldvalue: object, initiator: object) -> object:
    if inspect(target).info.get(SHARED):
        raise SharedAppealChanged(f"{initiator}: the cached appeal is shared; use AppealCache.find")
    return value


for _column in inspect(Appeal).column_attrs:
    event.listen(getattr(Appeal, _column.key), "set", _refuse_change_of_shared, retval=True)


# How long the other requests keep an expired appeal while one request reads it again.
REFRESH_SECONDS = 2.0


class AppealCache:
    def __init__(
        self,
        seconds: float,
        *,
        load: Callable[[Session, str], Appeal | None] = find_appeal,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.seconds = seconds
        self._load = load
        self._clock = clock
        self._entries: dict[str, tuple[float, Appeal]] = {}
        self._lock = threading.Lock()

    def find(self, db: Session, slug: str) -> Appeal | None:
        """The appeal with ``slug`` as an instance of ``db`` (this request's own copy, which it may
        change), or None if there is none."""
        if self.seconds <= 0:
            return self._load(db, slug)
        shared = self._shared(db, slug)
        return db.merge(shared, load=False) if shared is not None else None

    def find_read_only(self, db: Session, slug: str) -> Appeal | None:
        """The cached appeal itself, shared by every request of this process, or None: for code
        that only reads it (creating a donation), which saves ``merge``'s copy (3 % of a
        donation's CPU under load, bench.profile_served). Setting one of its attributes raises
        SharedAppealChanged, and it must not be added to a session."""
        if self.seconds <= 0:
            return self._load(db, slug)
        return self._shared(db, slug)

    def _shared(self, db: Session, slug: str) -> Appeal | None:
        now = self._clock()
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > now:
            return entry[1]
        if entry is not None:
            with self._lock:
                current = self._entries.get(slug)
                if current is entry:
                    # This request reads it again; meanwhile the others keep the copy they had.
                    self._entries[slug] = (now + REFRESH_SECONDS, entry[1])
            if current is not entry and current is not None:
                return current[1]  # another request is reading it, or has
        appeal = self._load(db, slug)
        if appeal is None:
            with self._lock:
                self._entries.pop(slug, None)  # gone (or renamed): nobody keeps the old copy
            return None
        shared = _detached_copy(appeal)
        inspect(shared).info[SHARED] = True
        with self._lock:
            self._entries[slug] = (self._clock() + self.seconds, shared)
        return shared

    def peek(self, slug: str) -> Appeal | None:
        """The cached, detached copy of the appeal, read-only, without touching the database
        (error pages brand themselves with it while the database may be failing)."""
        entry = self._entries.get(slug)
        return entry[1] if entry is not None else None

    def clear(self) -> None:
        """Forget every appeal (after this process changed one)."""
        with self._lock:
            self._entries.clear()
