"""Reading ahead: a page is fetched while the one before it is being loaded.

The API answers in another process (or on another machine), so while one thread waits
for the next page the other builds and writes the current one. The producer decides on
its own whether there is a next page to fetch (it holds the stop rule), so reading ahead
never costs a request a sequential read would not make.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], depth: int = 1, name: str = "flowsync-prefetch") -> Iterator[T]:
    """Yields what `items` yields, produced in a thread up to `depth` items ahead.

    An exception in the producer is raised here, in the consumer. When the consumer
    stops early (or fails), the producer stops before its next item and is closed in
    its own thread.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((None, exc))
        finally:
            if isinstance(items, Generator):
                items.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = handoff.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()
