"""Progress of a long run: rows per resource from dlt's collector, requests from the HTTP
client, shown as a status line on a terminal and as a log line every 10 s otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from dlt.common.runtime.collector import Collector

from sources.http import HttpClient

log = logging.getLogger("flowsync")


class RowCounter(Collector):
    """Counts what dlt's steps report (rows per resource while extracting), for progress."""

    def __init__(self) -> None:
        self.step = ""
        self.counts: dict[str, int] = {}

    def update(self, name: str, inc: int = 1, total: int | None = None,
               inc_total: int | None = None, message: str | None = None,
               label: str | None = None) -> None:
        if not label:
            self.counts[name] = self.counts.get(name, 0) + inc

    def _start(self, step: str) -> None:
        self.counts = {}

    def _stop(self) -> None:
        pass

    def snapshot(self) -> str:
        """E.g. `extract: executions 12,000, flows 20`."""
        step = self.step.split()[0].lower() if self.step else ""
        counts = dict(self.counts)
        parts = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())
                          if not k.startswith("_dlt") and k != "Resources")
        return f"{step}: {parts}" if parts else step


OnProgress = Callable[[str, HttpClient, RowCounter, float], None]


@contextmanager
def ticker(source: str, http: HttpClient, counter: RowCounter, t0: float,
           on_progress: OnProgress | None) -> Iterator[None]:
    """Calls on_progress about twice a second while the run is going."""
    if on_progress is None:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            on_progress(source, http, counter, time.perf_counter() - t0)

    thread = threading.Thread(target=tick, daemon=True, name=f"progress-{source}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


class Progress:
    """A status line per source on a terminal; a log line every 10 s otherwise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_log = 0.0

    def __call__(self, source: str, http: HttpClient, rows: RowCounter, elapsed: float) -> None:
        retries = sum(http.retries.values())
        text = (f"{source}: {rows.snapshot()}; {http.request_count:,} requests"
                + (f", {retries} retried" if retries else "") + f"; {elapsed:.0f} s")
        if self.tty:
            self.stream.write(f"\r\033[K  {text}")
            self.stream.flush()
        elif elapsed - self._last_log >= 10:
            self._last_log = elapsed
            log.info("progress: %s", text)

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
        self._last_log = 0.0
