"""Python's cyclic garbage collector while a source loads: its youngest generation is
collected every `THRESHOLD` new container objects instead of every 700.

A load parses pages of thousands of records (a dict each, nested dicts and lists), holds
them while they are checked and turned into Arrow tables, and frees them by reference
count, not by the collector: they are not cyclic garbage. At 700 the collector ran
several times per page, found every record still alive, and moved each one into an
older generation that later full collections walked again, with every object dlt and
flowsync hold. At 20,000 a page's records are mostly gone before a collection looks at
them: 6% less CPU for a 20,000-execution Twilio load (3 runs each, side by side; 100,000
gave the same). Freezing the objects alive at the start (`gc.freeze`) made no
difference. The old threshold is back when the last load running in the process ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

THRESHOLD = 20_000

_lock = threading.Lock()
_running = 0
_before: tuple[int, ...] = ()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The youngest generation's threshold is `THRESHOLD` inside (loads may run in
    several threads at once: the first one in raises it, the last one out puts back what
    it was)."""
    global _running, _before
    with _lock:
        if _running == 0:
            _before = gc.get_threshold()
            if _before[0]:  # (0: collection turned off; it stays off)
                gc.set_threshold(max(THRESHOLD, _before[0]), *_before[1:])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_before)
