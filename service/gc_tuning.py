"""Python's cyclic garbage collector, set for a web worker that serves many requests at once.

Measured in a gevent worker under the API benchmark (bench/README.md, "Issue 19"): with Python's
default thresholds (700, 10, 10) the collector ran about 460 times a worker in 20 s and took
0.2 ms of CPU per donation, 7 % of all the worker spent. Little of that work finds garbage (a
donation leaves 14 objects in reference cycles; the rest is freed by reference counting): it is
the scanning. A hundred requests in flight keep their objects alive long enough to be promoted,
so the older generations fill and every full collection walks the whole heap (about 170,000
objects of Flask, SQLAlchemy, marshmallow and stripe-python loaded at start).

So, once the app is loaded (``wsgi.py``): ``gc.freeze()`` moves everything that exists then, the
long-lived objects, "to a permanent generation and ignore[s] them in all the future collections"
(Python's gc documentation), and the first generation is collected every 10,000 net allocations
instead of 700. Measured: 10 collections a worker in 20 s, 0.04 s of CPU in all.
Garbage in cycles still gets collected, a little later: at 14 objects a donation that is a few
hundred kilobytes at most between collections.
"""

from __future__ import annotations

import gc

# Net allocations of tracked objects between collections of the youngest generation (Python's
# default: 700). The two older thresholds keep Python's defaults.
YOUNG_THRESHOLD = 10_000


def tune_for_serving() -> None:
    """Freeze what is loaded now and collect the young generation less often (see module doc)."""
    gc.collect()  # what is already garbage is freed rather than frozen for good
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
