"""What came back: a response body parsed as JSON and checked for the shape the caller
expects, or what is wrong with it (in words for the log and the error)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

# what is wrong with a parsed body, or None when it has the shape the caller expects
Shape = Callable[[Any], str | None]


def page_of(key: str) -> Shape:
    """A list page: a JSON object whose `key` is a list."""

    def check(body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return None
        what = (f"an object without the list `{key}`" if isinstance(body, dict)
                else f"a JSON {type(body).__name__}")
        return f"expected a page with the list `{key}`, got {what}"

    return check


def an_object(body: Any) -> str | None:
    """A single resource: a JSON object."""
    return None if isinstance(body, dict) else f"expected an object, got a JSON {type(body).__name__}"


def parse(resp: httpx.Response, expect: Shape | None) -> tuple[Any, str, bool]:
    """(body, "", False), or (None, what is wrong, whether it is the API's shape that is)."""
    try:
        # stdlib json: orjson was 1.2 ms a page faster, but reads an integer beyond 64
        # bits as a float, silently changing it
        body = json.loads(resp.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = resp.headers.get("content-type", "").split(";")[0].strip()
        if kind and "json" not in kind:
            return None, f"HTTP {resp.status_code} with a {kind} body, not the API's JSON", True
        return None, (f"HTTP {resp.status_code} with a body that is not valid JSON "
                      f"({len(resp.content)} bytes; truncated?)"), False
    problem = expect(body) if expect is not None else None
    if problem:
        return None, f"HTTP {resp.status_code} not in the API's shape: {problem}", True
    return body, "", False


def snippet(resp: httpx.Response, limit: int = 300) -> str:
    text = resp.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")
