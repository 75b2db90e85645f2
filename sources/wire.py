"""HTTP/1.1 on one socket: a GET written in one piece, its answer read from a buffer the
connection keeps.

Why not `http.client`: its connection and response objects (a buffered file per answer,
a line read and a call per header, its request-building steps) were most of the CPU of
flowsync's request path; a first load makes one request per Twilio execution. On
loopback flowsync's client now costs 0.21-0.25 CPU-ms a request (JSON parsed) against
bare `http.client`'s 0.27-0.34 (`python -m benchmarks.transport`, 1 to 64 threads), and
the worker threads of a 20,000-execution Twilio load use 7-13% less CPU (`perf record`,
per thread, two runs each side by side).

What an answer may be is still what `http.client` reads: a status line and headers
(lines ending in CRLF or LF, folded continuations, at most `MAX_HEADERS` lines of
`MAX_LINE` bytes), informational 1xx answers skipped, and a body framed by chunked
transfer coding, by Content-Length, or by the server closing the connection; no body
for 204, 304 or 1xx. Failures are `http.client`'s exception types (or `OSError` from the
socket), which `sources.transport` maps to httpx's errors the client retries.
"""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

MAX_LINE = 65536
MAX_HEADERS = 100
RECV = 65536
NO_BODY = (204, 304)
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case, repeated ones joined by ", "
    body: bytes  # as sent (any content coding still on)
    will_close: bool  # the connection cannot carry another request


class Connection:
    """One keep-alive connection (plain or TLS socket, already connected): GETs only,
    one at a time. Bytes read past an answer stay in `_buf` for the next one; an answer
    followed by bytes nobody asked for says `will_close`."""

    __slots__ = ("__weakref__", "_buf", "_host", "sock")

    def __init__(self, sock: socket.socket, host: str, port: int, default_port: int) -> None:
        self.sock = sock
        self._host = host_header(host, port, default_port)
        self._buf = bytearray()

    def get(self, target: str, headers: Mapping[str, str]) -> Reply:
        """Sends `GET target` with `headers` (and Host) and reads the whole answer."""
        self.sock.sendall(request_head(target, self._host, headers))
        while True:
            status, version, fields = self._head()
            if not 100 <= status < 200:
                break  # (1xx: informational, the answer follows)
        connection = fields.get("connection", "").lower()
        will_close = ("keep-alive" not in connection if version == 10
                      else "close" in connection)
        if status in NO_BODY:
            body = b""
        elif fields.get("transfer-encoding", "").lower().endswith("chunked"):
            body = self._chunked()
        else:
            length = _length(fields.get("content-length"))
            if length is None:
                body, will_close = self._until_close(), True
            else:
                body = self._take(length)
        return Reply(status, fields, body, will_close or bool(self._buf))

    def close(self) -> None:
        self.sock.close()

    # -- reading

    def _fill(self) -> bool:
        """Reads what the socket has into the buffer; False when the server closed."""
        data = self.sock.recv(RECV)
        if not data:
            return False
        self._buf += data
        return True

    def _head(self) -> tuple[int, int, dict[str, str]]:
        """The status line and headers of the next answer: (status, 10 or 11, headers)."""
        buf, start = self._buf, 0
        while True:
            end = _head_end(buf, start)
            if end >= 0:
                break
            if len(buf) > MAX_LINE * (MAX_HEADERS + 1):
                raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
            start = max(0, len(buf) - 3)
            if not self._fill():
                if buf:
                    raise http.client.IncompleteRead(bytes(buf))
                raise http.client.RemoteDisconnected("Remote end closed connection "
                                                     "without response")
        lines = bytes(buf[:end]).split(b"\n")
        del buf[:end + (4 if buf[end:end + 4] == b"\r\n\r\n" else 2)]
        status, version = _status(lines[0])
        return status, version, _fields(lines[1:])

    def _take(self, n: int) -> bytes:
        """The next `n` bytes of the answer."""
        buf = self._buf
        if len(buf) >= n:
            out = bytes(buf[:n])
            del buf[:n]
            return out
        body = bytearray(n)
        have = len(buf)
        body[:have] = buf
        buf.clear()
        view = memoryview(body)
        while have < n:
            got = self.sock.recv_into(view[have:])
            if not got:
                raise http.client.IncompleteRead(bytes(body[:have]), n - have)
            have += got
        return bytes(body)

    def _line(self) -> bytes:
        """One line of a chunked body (its CRLF or LF off)."""
        buf, start = self._buf, 0
        while (end := buf.find(b"\n", start)) < 0:
            if len(buf) > MAX_LINE:
                raise http.client.LineTooLong("chunk line")
            start = len(buf)
            if not self._fill():
                raise http.client.IncompleteRead(b"")
        line = bytes(buf[:end]).rstrip(b"\r")
        del buf[:end + 1]
        return line

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise http.client.IncompleteRead(b"".join(parts)) from None
            if size == 0:
                break
            parts.append(self._take(size))
            self._line()  # the CRLF after the chunk
        while self._line():  # trailers, up to the empty line
            pass
        return b"".join(parts)

    def _until_close(self) -> bytes:
        while self._fill():
            pass
        body = bytes(self._buf)
        self._buf.clear()
        return body


def _head_end(buf: bytearray, start: int) -> int:
    """Where the head ends (the index of its blank line's first byte after the last
    header line), or -1."""
    crlf = buf.find(b"\r\n\r\n", start)
    lf = buf.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf  # (bare LF line ends, as http.client accepts)
    return crlf


def _status(line: bytes) -> tuple[int, int]:
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("status line")
    text = line.decode("iso-8859-1").rstrip("\r")
    version, _, rest = text.partition(" ")
    code = rest.strip().split(" ", 1)[0]
    if not version.startswith("HTTP/") or not (len(code) == 3 and code.isdigit()):
        raise http.client.BadStatusLine(text)
    if version in ("HTTP/1.0", "HTTP/0.9"):
        return int(code), 10
    if not version.startswith("HTTP/1."):
        raise http.client.UnknownProtocol(version)
    return int(code), 11


def _fields(lines: list[bytes]) -> dict[str, str]:
    """Header lines as a dict: names in lower case, repeated ones joined by ", ", a
    folded continuation joined to its header by a space; a line that is not a header is
    ignored, as http.client's parser does."""
    if len(lines) > MAX_HEADERS:
        raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    last = ""
    for raw in lines:
        if len(raw) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        line = raw.decode("iso-8859-1").rstrip("\r")
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last, value = name.strip().lower(), value.strip()
        headers[last] = f"{headers[last]}, {value}" if last in headers else value
    return headers


def _length(text: str | None) -> int | None:
    """Content-Length, or None (absent, not a number, negative: read until close)."""
    if text is None:
        return None
    try:
        n = int(text.split(",")[0])  # (repeated identical values arrive joined)
    except ValueError:
        return None
    return n if n >= 0 else None


def host_header(host: str, port: int, default_port: int) -> str:
    name = host if host.isascii() else host.encode("idna").decode("ascii")
    if ":" in name:  # an IPv6 literal
        name = f"[{name}]"
    return name if port == default_port else f"{name}:{port}"


def request_head(target: str, host: str, headers: Mapping[str, str]) -> bytes:
    """The bytes of `GET target` (ASCII, no whitespace or controls, as http.client
    checks) with Host and `headers` (no CR or LF in a name or value)."""
    if _NOT_IN_TARGET.search(target):
        raise http.client.InvalidURL(f"URL can't contain control characters: {target!r}")
    lines = [f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")
