"""How many requests to have in flight at once: found, not fixed.

Twilio limits each account's concurrent requests (429 with error 20429 above the limit,
commonly 100). `AdaptiveLimit` finds the limit the way TCP finds a path's capacity:
slow start, then additive increase, multiplicative decrease. Until the first 429 or slow
answer, every fast answer raises the limit by one (it doubles each round of answers: from
16 to 64 in about 50 answers, not 2,000); after that, by 1/limit (about one more request in
flight per round). A 429 halves it, once per round: 429s to requests sent before the last
cut say nothing new. The limit stays
between 1 and a ceiling (`sources.twilio_studio.max_workers`).

The worker threads (as many as the ceiling) each take a slot before a request and give it
back after the answer; the client's retry waits (Retry-After, backoff) happen outside a
slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

START = 16  # requests in flight before the first answers say more
SLOW_FACTOR = 3.0  # an answer this many times the fastest seen is not "fast"
SLOW_MARGIN = 0.05  # ... plus this many seconds (loopback's fastest is ~1 ms)


class AdaptiveLimit:
    """A concurrency limit that adapts to the API's answers. Thread-safe."""

    def __init__(self, start: int, ceiling: int) -> None:
        if not 1 <= start <= ceiling:
            raise ValueError("need 1 <= start <= ceiling")  # a programming error
        self.ceiling = ceiling
        self._limit = float(start)
        self._in_flight = 0
        self._cond = threading.Condition()
        self._last_cut = float("-inf")  # monotonic time of the last decrease
        self._fastest = float("inf")
        self._slow_start = True  # until the first 429 or slow answer
        self.cuts = 0  # decreases made
        self.peak = start  # the highest limit reached

    @property
    def limit(self) -> int:
        return int(self._limit)

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Waits for a free slot; yields the time the request starts (monotonic)."""
        with self._cond:
            while self._in_flight >= int(self._limit):
                self._cond.wait()
            self._in_flight += 1
        try:
            yield time.monotonic()
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def answered(self, started: float) -> None:
        """An answer that was not a 429: a fast one raises the limit."""
        seconds = time.monotonic() - started
        with self._cond:
            self._fastest = min(self._fastest, seconds)
            if seconds > self._fastest * SLOW_FACTOR + SLOW_MARGIN:
                self._slow_start = False  # answers slow down: the API is queueing them
                return
            before = int(self._limit)
            step = 1.0 if self._slow_start else 1.0 / self._limit
            self._limit = min(float(self.ceiling), self._limit + step)
            self.peak = max(self.peak, int(self._limit))
            if int(self._limit) > before:
                self._cond.notify()

    def throttled(self, started: float) -> None:
        """A 429 to a request started at `started`: the limit halves, once per round."""
        with self._cond:
            if started < self._last_cut:
                return  # sent at the old limit: already answered for
            self._limit = max(1.0, self._limit / 2)
            self._slow_start = False
            self._last_cut = time.monotonic()
            self.cuts += 1
