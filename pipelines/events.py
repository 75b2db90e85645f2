"""What the application has to say, as events: only the command line shows them (`cli`).

A step emits an `Event` (one line of text, how much it matters, the source it concerns)
and goes on; whoever runs the application listens (`listening`): the command line prints
results to stdout and the rest to stderr; a test or an orchestrator keeps them. With no
listener, events go to the `flowsync` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("flowsync")

RESULT, NOTICE = "result", "notice"  # what a command produced; what its user should know


@dataclass(frozen=True)
class Event:
    text: str
    kind: str = NOTICE
    source: str | None = None
    account: str | None = None
    # what a log shipper would chart: seconds, requests, rows per table, outcome
    figures: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def emit(event: Event) -> None:
    for listener in list(_listeners) or [_log]:
        listener(event)


def result(text: str, source: str | None = None, account: str | None = None,
           figures: dict[str, Any] | None = None) -> None:
    emit(Event(text, RESULT, source, account, figures or {}))


def notice(text: str, source: str | None = None) -> None:
    emit(Event(text, NOTICE, source))


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _log(event: Event) -> None:
    log.log(logging.INFO if event.kind == RESULT else logging.WARNING, "%s", event.text)
