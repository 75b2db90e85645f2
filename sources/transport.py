"""The bytes on the wire: an httpx transport on the standard library's `http.client`, a
keep-alive connection per thread, no shared pool.

Why: the sources' worker threads all send GETs at once. httpx's own transport (httpcore)
serialises them on its connection pool's lock and checks each reused connection in Python;
on loopback this transport cost about a third of httpx's CPU per request
(`python -m benchmarks.transport`). It is an `httpx.BaseTransport`, so `sources.http`
speaks httpx's Request and Response either way, and tests swap in `httpx.MockTransport`.

Each thread keeps one connection per (scheme, host, port), reused while the server keeps
it open. A connection the server closed while idle is noticed before it is reused (it
reads as ready with nothing to read) and replaced; any failure on a connection closes it
and is raised as the httpx error the client retries (`httpx.TransportError`). GET only:
the sources send nothing else. HTTPS verifies certificates with httpx's SSL context
(certifi, or SSL_CERT_FILE). When the environment names a proxy for the API, httpx's own
transport carries the requests instead (`default_transport`).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.request
import weakref
from urllib.parse import urlsplit

import httpx

Key = tuple[str, str, int]


class StdlibTransport(httpx.BaseTransport):
    """httpx transport: one keep-alive `http.client` connection per thread and host."""

    def __init__(self, verify: ssl.SSLContext | None = None) -> None:
        self._local = threading.local()
        self._ssl = verify
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            raise httpx.UnsupportedProtocol(f"{request.method}: this transport sends GETs only",
                                            request=request)
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        conn = self._connection(key, timeouts, request)
        try:
            conn.putrequest("GET", url.raw_path.decode("ascii"), skip_host=True,
                            skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            conn.endheaders()
            answer = conn.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(key, conn)
            raise _as_httpx(exc, request) from exc
        except BaseException:
            self._drop(key, conn)
            raise
        if answer.will_close:
            self._drop(key, conn)
        return httpx.Response(answer.status, headers=answer.getheaders(), content=body,
                              request=request)

    def _connection(self, key: Key, timeouts: dict,
                    request: httpx.Request) -> http.client.HTTPConnection:
        conns: dict[Key, http.client.HTTPConnection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is not None and conn.sock is not None and not _closed_by_peer(conn.sock):
            return conn
        if conn is not None:
            self._drop(key, conn)
        scheme, host, port = key
        connect, read = timeouts.get("connect"), timeouts.get("read")
        if scheme == "https":
            context = self._ssl or httpx.create_ssl_context()
            self._ssl = context
            conn = http.client.HTTPSConnection(host, port, timeout=connect, context=context)
        elif scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=connect)
        else:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _as_httpx(exc, request, connecting=True) from exc
        conn.sock.settimeout(read)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns[key] = conn
        with self._lock:
            self._all.add(conn)
        return conn

    def _drop(self, key: Key, conn: http.client.HTTPConnection) -> None:
        conn.close()
        conns = getattr(self._local, "conns", {})
        if conns.get(key) is conn:
            del conns[key]

    def close(self) -> None:
        """Closes every thread's connections (a thread that sends again reconnects)."""
        with self._lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            conn.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive socket that reads as ready was closed by the server (or has
    bytes nobody asked for): either way it must not carry the next request."""
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


def _as_httpx(exc: OSError | http.client.HTTPException, request: httpx.Request | None,
              connecting: bool = False) -> httpx.TransportError:
    """The httpx error for a standard-library failure, so the client's retries apply."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, (TimeoutError, socket.timeout)):
        kind: type[httpx.TransportError] = (httpx.ConnectTimeout if connecting
                                            else httpx.ReadTimeout)
    elif connecting:
        kind = httpx.ConnectError
    elif isinstance(exc, http.client.HTTPException):
        kind = httpx.RemoteProtocolError  # disconnected, incomplete body, bad status line
    else:
        kind = httpx.ReadError
    return kind(message, request=request)


def default_transport(base_url: str, max_connections: int) -> httpx.BaseTransport:
    """`StdlibTransport`, or httpx's own through the proxy the environment names for the
    API (HTTPS_PROXY, NO_PROXY ..., as httpx itself would honour them)."""
    parts, proxies = urlsplit(base_url), urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return httpx.HTTPTransport(proxy=proxy, limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections))
    return StdlibTransport()
