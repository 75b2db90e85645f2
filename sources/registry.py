"""Every source flowsync knows, in run order: one line per source."""

from __future__ import annotations

from .hilos.spec import SOURCE as HILOS
from .spec import Source
from .twilio_studio.spec import SOURCE as TWILIO_STUDIO

SOURCES: list[Source] = [HILOS, TWILIO_STUDIO]


def names() -> list[str]:
    return [s.name for s in SOURCES]


def get(name: str) -> Source:
    for source in SOURCES:
        if source.name == name:
            return source
    raise KeyError(name)
