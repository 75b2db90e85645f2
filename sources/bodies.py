"""What came back: an answer (status, headers, body), its body parsed as JSON and checked
for the shape the caller expects, or what is wrong with it (in words for the log and the
error)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer as the client reads it: header names in lower case (repeated ones
    joined by ", "), the body decoded (gzip, deflate), the URL that was asked."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def answer_of(resp: httpx.Response) -> Answer:
    """An httpx response (read) as an `Answer`: the path of httpx's own and test
    transports."""
    headers: dict[str, str] = {}
    for name, value in resp.headers.multi_items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Answer(resp.status_code, headers, resp.content, str(resp.url))


def decoded(body: bytes, encoding: str | None) -> bytes:
    """The body without its content coding (gzip, deflate; anything else as it came).

    Raises:
        zlib.error: the body is not what its coding says (a truncated gzip stream).
    """
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:  # a raw deflate stream, as some servers send
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


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


def parse(resp: Answer, expect: Shape | None) -> tuple[Any, str, bool]:
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


def snippet(resp: Answer, limit: int = 300) -> str:
    text = resp.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")
