"""HTTP/1.1 on one socket (`sources.wire`): what an answer may be, read as `http.client`
reads it, over a real socket pair (the other end writes the server's bytes)."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator

import pytest

from sources.wire import Connection, Reply, host_header, request_head

BODY = b'{"ok": true}'


@pytest.fixture
def pair() -> Iterator[tuple[Connection, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    conn = Connection(ours, "api.example.com", 443, 443)
    yield conn, theirs
    conn.close()
    theirs.close()


def answer(pair: tuple[Connection, socket.socket], *writes: bytes, close: bool = False,
           headers: dict[str, str] | None = None) -> tuple[Reply, bytes]:
    """The reply to one GET whose answer the server writes in `writes` (separate sends);
    and the request the server read."""
    conn, theirs = pair
    got: list[bytes] = []

    def serve() -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += theirs.recv(1)
        got.append(head)
        for w in writes:
            theirs.sendall(w)
        if close:
            theirs.shutdown(socket.SHUT_WR)

    server = threading.Thread(target=serve)
    server.start()
    try:
        reply = conn.get("/v2/Flows?PageSize=50", headers or {"Authorization": "Basic x"})
    finally:
        server.join(5)
    return reply, got[0]


def test_the_request_is_one_get_with_host_and_the_headers(pair) -> None:
    reply, request = answer(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + BODY)
    assert request == (b"GET /v2/Flows?PageSize=50 HTTP/1.1\r\nHost: api.example.com\r\n"
                       b"Authorization: Basic x\r\n\r\n")
    assert reply == Reply(200, {"content-length": "12"}, BODY, False)


@pytest.mark.parametrize("writes", [
    [b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + BODY],
    [b"HTTP/1.1 200 OK\nContent-Length: 12\n\n" + BODY],  # bare LF line ends
    [b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 12\r", b"\n\r", b"\n" + BODY[:3], BODY[3:]],
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;name=value\r\n" + BODY[:5] + b"\r\n7\r\n" + BODY[5:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"],
    [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
     b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + BODY],
], ids=["crlf", "lf", "split-anywhere", "chunked-with-extension-and-trailer", "1xx-skipped"])
def test_every_framing_reads_as_the_same_body_and_keeps_the_connection(pair, writes) -> None:
    reply, _ = answer(pair, *writes)
    assert (reply.status, reply.body, reply.will_close) == (200, BODY, False)


def test_a_body_until_close_and_an_http_1_0_answer_close_the_connection(pair) -> None:
    reply, _ = answer(pair, b"HTTP/1.0 200 OK\r\n\r\n" + BODY, close=True)
    assert (reply.status, reply.body, reply.will_close) == (200, BODY, True)


@pytest.mark.parametrize(("head", "will_close"), [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 12\r\n\r\n", True),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 12\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n", True),
])
def test_whether_the_connection_stays_follows_the_version_and_connection_header(
        pair, head: bytes, will_close: bool) -> None:
    reply, _ = answer(pair, head + BODY)
    assert (reply.body, reply.will_close) == (BODY, will_close)


def test_bytes_nobody_asked_for_after_an_answer_close_the_connection(pair) -> None:
    reply, _ = answer(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + BODY + b"HTTP")
    assert (reply.body, reply.will_close) == (BODY, True)


def test_headers_lower_case_repeated_joined_folded_continued(pair) -> None:
    reply, _ = answer(pair, b"HTTP/1.1 204 No Content\r\nX-Twice: a\r\nx-twice: b\r\n"
                            b"X-Folded: one\r\n  two\r\nnot a header\r\n\r\n")
    assert reply == Reply(204, {"x-twice": "a, b", "x-folded": "one two"}, b"", False)


@pytest.mark.parametrize(("writes", "error"), [
    ([b""], http.client.RemoteDisconnected),  # closed before any byte
    ([b"HTTP/1.1 200 OK\r\nContent-"], http.client.IncompleteRead),  # closed in the head
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n" + BODY], http.client.IncompleteRead),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
     http.client.IncompleteRead),
    ([b"ICY 200 OK\r\n\r\n"], http.client.BadStatusLine),
    ([b"HTTP/1.1 2000 OK\r\n\r\n"], http.client.BadStatusLine),
    ([b"HTTP/2.0 200 OK\r\n\r\n"], http.client.UnknownProtocol),
    ([b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n"], http.client.HTTPException),
], ids=["nothing", "cut-head", "cut-body", "bad-chunk-size", "not-http", "bad-status",
        "http2", "too-many-headers"])
def test_an_answer_that_is_not_http_1_is_http_client_s_error(pair, writes, error) -> None:
    with pytest.raises(error):
        answer(pair, *writes, close=True)


def test_a_slow_answer_times_out(pair) -> None:
    pair[0].sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        answer(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX: y", "/\x7f", "/caf\u00e9"])
def test_a_target_with_whitespace_controls_or_beyond_ascii_is_refused(target: str) -> None:
    with pytest.raises(http.client.InvalidURL):
        request_head(target, "h", {})


@pytest.mark.parametrize("headers", [{"X": "a\r\nY: b"}, {"X\n": "a"}, {"X:Y": "a"}])
def test_a_header_that_would_split_the_request_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        request_head("/", "h", headers)


@pytest.mark.parametrize(("host", "port", "default", "expected"), [
    ("api.twilio.com", 443, 443, "api.twilio.com"),
    ("127.0.0.1", 8080, 80, "127.0.0.1:8080"),
    ("::1", 8443, 443, "[::1]:8443"),
    ("bücher.example", 80, 80, "xn--bcher-kva.example"),
])
def test_the_host_header(host: str, port: int, default: int, expected: str) -> None:
    assert host_header(host, port, default) == expected
