"""The request and response shapes the API handlers work with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Routes = list[tuple[re.Pattern[str], str]]


def match_route(routes: Routes, path: str) -> tuple[str, tuple[str, ...]] | None:
    """The operation name and path parameters of the first route matching `path`, or None."""
    for pattern, op in routes:
        m = pattern.match(path)
        if m:
            return op, m.groups()
    return None


@dataclass
class Request:
    """An API request, parsed: path without query, single-valued query, lower-case headers."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str


@dataclass
class Response:
    """A JSON (or, for gateway errors, text) response."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
