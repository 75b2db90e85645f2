"""The standard-library transport's lean path (`StdlibTransport.get`) against a raw HTTP
server on loopback: what `sources.http` reads of an answer, without httpx's types or the
`email` parser: status, headers, the decoded body, and what it sent."""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections.abc import Iterator

import httpx
import pytest

from sources.bodies import Answer
from sources.http import HttpClient
from sources.transport import StdlibTransport

TIMEOUTS = {"connect": 5.0, "read": 5.0}
BODY = b'{"ok": true}'


def _chunked(body: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5]), body[i:i + 5])
                    for i in range(0, len(body), 5)) + b"0\r\n\r\n"


ANSWERS = {  # path -> the bytes the server writes after reading the request
    "/plain": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
              b"X-Twice: a\r\nX-Twice: b\r\nX-Folded: one\r\n  two\r\n\r\n" + BODY,
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(BODY),
    "/gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
             % (len(gzip.compress(BODY)), gzip.compress(BODY)),
    "/deflate": b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s"
                % (len(zlib.compress(BODY)), zlib.compress(BODY)),
    "/bad-gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\n"
                 + BODY,
    "/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
                 + BODY,
    "/until-close": b"HTTP/1.0 200 OK\r\n\r\n" + BODY,
    "/empty": b"HTTP/1.1 204 No Content\r\n\r\n",
}


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[bytes]]]:
    """A server that answers each request with ANSWERS[path] on a keep-alive connection
    (closing after /until-close); yields its base URL and the request heads it read."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                heads.append(head)
                path = head.split(b" ")[1].decode().split("?")[0]
                conn.sendall(ANSWERS.get(path, ANSWERS["/plain"]))
                if path == "/until-close":
                    return

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", heads
    listener.close()


def test_an_answer_has_lower_case_headers_repeated_ones_joined_and_the_body(raw_server) -> None:
    url, heads = raw_server
    answer = StdlibTransport().get(f"{url}/plain?a=1&b=x%20y", {"Accept": "application/json"},
                                   TIMEOUTS)
    assert answer == Answer(200, {"content-type": "application/json", "content-length": "12",
                                  "x-twice": "a, b", "x-folded": "one two"}, BODY,
                            f"{url}/plain?a=1&b=x%20y")
    port = url.rsplit(":", 1)[1]
    assert heads == [f"GET /plain?a=1&b=x%20y HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Accept: application/json\r\n\r\n".encode()]


@pytest.mark.parametrize("path", ["/chunked", "/gzip", "/deflate", "/continue", "/until-close"])
def test_every_framing_and_coding_reads_as_the_same_body(raw_server, path: str) -> None:
    url, heads = raw_server
    transport = StdlibTransport()
    assert transport.get(f"{url}{path}", {}, TIMEOUTS).content == BODY
    assert transport.get(f"{url}/plain", {}, TIMEOUTS).content == BODY  # the connection goes on
    assert len(heads) == 2


def test_an_answer_without_a_body_is_empty(raw_server) -> None:
    url, _ = raw_server
    answer = StdlibTransport().get(f"{url}/empty", {}, TIMEOUTS)
    assert (answer.status_code, answer.content) == (204, b"")


def test_a_body_that_is_not_its_coding_is_a_transport_error(raw_server) -> None:
    url, _ = raw_server
    with pytest.raises(httpx.RemoteProtocolError, match="could not be decoded"):
        StdlibTransport().get(f"{url}/bad-gzip", {}, TIMEOUTS)


def test_a_url_beyond_ascii_is_sent_percent_encoded(raw_server) -> None:
    url, heads = raw_server
    StdlibTransport().get(f"{url}/plain?name=café", {}, TIMEOUTS)
    assert heads[0].startswith(b"GET /plain?name=caf%C3%A9 HTTP/1.1\r\n")


def test_the_client_takes_the_lean_path_and_retries_a_bad_coding(raw_server) -> None:
    url, heads = raw_server
    client = HttpClient(url, service="Test", auth_hint="x", auth=("user", "secret"),
                        max_attempts=2, sleep=lambda s: None)
    assert client._lean is client._transport
    assert client.get_json("/gzip") == {"ok": True}
    assert b"Authorization: Basic dXNlcjpzZWNyZXQ=\r\n" in heads[0]
    with pytest.raises(Exception, match="failed after 2 attempts; last: connection failed "
                                        r"\(RemoteProtocolError: the body could not be decoded"):
        client.get_json("/bad-gzip")
    assert client.requests == {"/gzip": 1, "/bad-gzip": 2}
