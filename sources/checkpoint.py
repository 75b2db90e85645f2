"""When a long sync should pause so that what it fetched is committed.

A run loads in checkpoints: the source fetches until its `Checkpoint` is due (a budget of
time, requests or rows), stops at the next point where its state can say exactly where to go on,
and the runner loads rows and cursors together, then runs the source again from there. A
kill loses at most the checkpoint in progress. The row budget bounds memory: what a load
holds (the keys it has seen, its files, DuckDB's insert) grows with its rows, so a first
load of a million runs is many loads of the same size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .http import HttpClient

DEFAULT_SECONDS = 60.0
# each checkpoint is a whole dlt load (extract, normalize, load, state): about 1.3 CPU-s
# measured on a 4,000-execution Twilio load; at 2,000 requests a fast API (1,000 requests
# a second) paid that every 2 s. The time budget is the bound that matters for a kill.
DEFAULT_REQUESTS = 20_000
# rows fetched (every table together) per load: 1M Hilos runs in one load peaked at 481 MiB,
# in loads of 100,000 at 376 MiB, for 20% more CPU (each load is a whole dlt load)
DEFAULT_ROWS = 100_000


class Checkpoint:
    """A budget of seconds, requests and rows for one load of a source.

    Args:
        seconds: fetch at most about this long before committing.
        requests: fetch with at most about this many requests before committing.
        rows: fetch at most about this many rows before committing (the sources `count`
            them as they hand them on).
        clock: the time source, for tests.
    """

    def __init__(self, seconds: float = DEFAULT_SECONDS, requests: int = DEFAULT_REQUESTS,
                 rows: int = DEFAULT_ROWS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.requests = requests
        self.rows = rows
        self._rows = 0
        self._lock = threading.Lock()  # sources count from their reading threads
        self._clock = clock
        self._http: HttpClient | None = None
        self._t0 = clock()
        self._r0 = 0
        self.reached = False
        self._finished: set[str] = set()

    @property
    def finished(self) -> set[str]:
        """What a source finished in an earlier load of this run (a Twilio flow read to its
        end): a later load of the run does not read it again; the next run does."""
        return self._finished

    def start(self, http: HttpClient) -> None:
        """Begins a budget for the next load, counting `http`'s requests from now. After a
        load that ended before its budget (the run's last), this begins a new run."""
        if not self.reached:
            self._finished.clear()
        self._http = http
        self._t0 = self._clock()
        self._r0 = http.request_count
        self._rows = 0
        self.reached = False

    def count(self, rows: int) -> None:
        """`rows` more rows fetched in this load."""
        with self._lock:
            self._rows += rows

    def due_with(self, rows: int) -> bool:
        """Whether to stop after `rows` more rows, not yet counted: a source that can stop
        part-way through what it has fetched asks before handing it on."""
        return self.due() or self._rows + rows >= self.rows

    def due(self) -> bool:
        """Whether to stop fetching now; once it says so it keeps saying so (`reached`)."""
        if not self.reached:
            spent = self._http.request_count - self._r0 if self._http is not None else 0
            self.reached = (self._clock() - self._t0 >= self.seconds
                            or spent >= self.requests or self._rows >= self.rows)
        return self.reached


class _Never(Checkpoint):
    """One load for everything, shared by every run: it keeps nothing between them."""

    @property
    def finished(self) -> set[str]:
        return set()


NEVER = _Never(float("inf"), 2**62, 2**62)  # one load for everything: tests, direct use
