"""What a source declares about itself, so the rest of flowsync needs nothing else: its
name and dataset, its settings (typed and checked), when it counts as configured, its raw
tables (keys, personal fields), and how to build it for one load.

Each source package defines one `Source` (`sources/<name>/spec.py`); `sources.registry`
lists them. Adding a provider is its own package and one line there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .checkpoint import Checkpoint
from .errors import ConfigError
from .http import HttpClient
from .privacy import Fields, Privacy
from .records import parse_timestamp

Check = Callable[[Any], str | None]  # what is wrong with a value, or None


@dataclass(frozen=True)
class Setting:
    """One setting: `sources.<source>.<name>` (or a general key), its default and type."""

    name: str
    default: Any = None
    secret: bool = False
    whole: bool = False  # a whole number, at least `minimum`
    minimum: int = 0
    check: Check | None = None
    model_variable: bool = False  # a list the analytics models read as `{{ name }}`

    def value(self, key: str, raw: Any) -> Any:
        """The typed value, or ConfigError naming the setting."""
        if raw is None or raw == "":
            return self.default
        if self.whole:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
            if number < self.minimum:
                raise ConfigError(f"{key} must be at least {self.minimum}, not {number}")
            return number
        problem = self.check(raw) if self.check else None
        if problem:
            raise ConfigError(f"{key} {problem}, not {raw!r}")
        return raw


def http_url(value: Any) -> str | None:
    parts = urlsplit(str(value))
    ok = parts.scheme in ("http", "https") and parts.netloc
    return None if ok else "must be an http:// or https:// URL"


def iso_date(value: Any) -> str | None:
    return None if parse_timestamp(str(value)) else "must be an ISO 8601 date"


def iana_zone(value: Any) -> str | None:
    """An IANA time zone name (`America/Mexico_City`, `UTC`), as both databases know them."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone name (e.g. America/Mexico_City)"
    return None


_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 10**3, "kb": 10**3, "kilobyte": 10**3,
          "kilobytes": 10**3, "m": 10**6, "mb": 10**6, "megabyte": 10**6, "megabytes": 10**6,
          "g": 10**9, "gb": 10**9, "gigabyte": 10**9, "gigabytes": 10**9, "t": 10**12,
          "tb": 10**12, "terabyte": 10**12, "terabytes": 10**12, "kib": 2**10, "mib": 2**20,
          "gib": 2**30, "tib": 2**40}


def memory_bytes(value: Any) -> int | None:
    """The bytes of a memory size as DuckDB reads one (`256MB`, `1.5 GB`, `1GiB`), or None."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", str(value))
    unit = _UNITS.get(found.group(2).lower()) if found else None
    return None if unit is None else int(float(found.group(1)) * unit)


def memory_size(value: Any) -> str | None:
    return None if memory_bytes(value) else "must be a memory size such as 256MB or 1GB"


def one_of(*allowed: str) -> Check:
    return lambda value: None if value in allowed else f"must be {' or '.join(allowed)}"


def list_of(pattern: str, what: str) -> Check:
    """A list of strings matching `pattern` (a JSON list as env vars give it)."""
    def check(value: Any) -> str | None:
        items = as_list(value)
        ok = items is not None and all(isinstance(i, str) and re.match(pattern, i) for i in items)
        return None if ok else f"must be a list of {what}"
    return check


def as_list(value: Any) -> list | None:
    """A list setting as dlt reads it: a list, or its JSON text; a lone string is one item."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip().startswith("[") else [value]
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, list) else None


@dataclass(frozen=True)
class RawTable:
    """A raw table the source loads: its key, and where its records hold personal data
    (the quarantine's raw records of the resource of that name too)."""

    name: str
    key: str
    personal: Fields = field(default_factory=Fields)
    every_load: bool = False  # listed whole in every load (no sign of progress)


@dataclass(frozen=True)
class Source:
    """Everything flowsync needs to know about one source."""

    name: str  # also its dlt source's name and, by default, its dataset
    display: str  # for people: the report, the demo
    settings: tuple[Setting, ...]
    # the settings that configure it, any one group complete (e.g. a token; a key pair)
    credentials: tuple[tuple[str, ...], ...]
    tables: tuple[RawTable, ...]
    # typed settings -> its HTTP client (one per run: it counts the requests)
    connect: Callable[[Mapping[str, Any]], HttpClient]
    # (typed settings, the client, checkpoint, privacy) -> the dlt source for one load
    build: Callable[[Mapping[str, Any], HttpClient, Checkpoint, Privacy], Any]
    dataset: str = ""

    def __post_init__(self) -> None:
        if not self.dataset:
            object.__setattr__(self, "dataset", self.name)

    def key(self, setting: str) -> str:
        return f"sources.{self.name}.{setting}"

    def checked(self, **values: Any) -> dict[str, Any]:
        """The given settings typed and checked as declared (ConfigError naming one)."""
        declared = {s.name: s for s in self.settings}
        return {k: declared[k].value(self.key(k), v) for k, v in values.items()}

    @property
    def hint(self) -> str:
        """What to set to configure it."""
        return " (or ".join(" + ".join(self.key(s) for s in group)
                            for group in self.credentials) + ")" * (len(self.credentials) - 1)
