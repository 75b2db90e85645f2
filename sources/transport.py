"""The bytes on the wire: an httpx transport on plain sockets (`sources.wire`), a
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
import zlib
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

import httpx

from .bodies import Answer, decoded
from .wire import Connection

Key = tuple[str, str, int]


class StdlibTransport(httpx.BaseTransport):
    """httpx transport: one keep-alive connection per thread and host (`wire.Connection`).

    `get` is the lean path `sources.http` takes: a URL and headers in, an `Answer` out,
    without httpx's Request and Response objects (and their URL parsing and header
    normalising) and without `http.client`'s objects and `email` header parser: 0.21-0.25
    CPU-ms a request on loopback against 0.27-0.34 through bare `http.client`
    (`python -m benchmarks.transport`)."""

    def __init__(self, verify: ssl.SSLContext | None = None) -> None:
        self._local = threading.local()
        self._ssl = verify
        self._all: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(self, url: str, headers: Mapping[str, str], timeouts: Mapping[str, float | None]
            ) -> Answer:
        """GETs an absolute URL: the answer, its body decoded.

        Raises:
            httpx.TransportError: the connection failed, or the body is not what its
                content coding says (both worth a retry).
        """
        parts = urlsplit(url)
        status, got, body = self._exchange(parts, _target(url, parts), headers, timeouts, None)
        try:
            content = decoded(body, got.get("content-encoding"))
        except zlib.error as exc:
            raise httpx.RemoteProtocolError(f"the body could not be decoded "
                                            f"({got.get('content-encoding')}: {exc})") from exc
        return Answer(status, got, content, url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            raise httpx.UnsupportedProtocol(f"{request.method}: this transport sends GETs only",
                                            request=request)
        url = request.url
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        status, got, body = self._exchange(urlsplit(str(url)), url.raw_path.decode("ascii"),
                                           headers, request.extensions.get("timeout", {}),
                                           request)
        return httpx.Response(status, headers=list(got.items()), content=body, request=request)

    def _exchange(self, parts: SplitResult, target: str, headers: Mapping[str, str],
                  timeouts: Mapping[str, float | None], request: httpx.Request | None
                  ) -> tuple[int, dict[str, str], bytes]:
        """One GET on this thread's connection: (status, headers, body as sent)."""
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        conn = self._connection(key, timeouts, request)
        try:
            reply = conn.get(target, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._drop(key, conn)
            raise _as_httpx(exc, request) from exc
        except BaseException:
            self._drop(key, conn)
            raise
        if reply.will_close:
            self._drop(key, conn)
        return reply.status, reply.headers, reply.body

    def _connection(self, key: Key, timeouts: Mapping[str, float | None],
                    request: httpx.Request | None) -> Connection:
        conns: dict[Key, Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is not None and not _closed_by_peer(conn.sock):
            return conn
        if conn is not None:
            self._drop(key, conn)
        scheme, host, port = key
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        try:
            sock = socket.create_connection((host, port), timeout=timeouts.get("connect"))
        except OSError as exc:
            raise _as_httpx(exc, request, connecting=True) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                context = self._ssl or httpx.create_ssl_context()
                self._ssl = context
                sock = context.wrap_socket(sock, server_hostname=host)
            sock.settimeout(timeouts.get("read"))
        except OSError as exc:  # (ssl.SSLError too: a certificate not trusted)
            sock.close()
            raise _as_httpx(exc, request, connecting=True) from exc
        conn = conns[key] = Connection(sock, host, port, 443 if scheme == "https" else 80)
        with self._lock:
            self._all.add(conn)
        return conn

    def _drop(self, key: Key, conn: Connection) -> None:
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


def _target(url: str, parts: SplitResult) -> str:
    """The request target: the URL's path and query, as sent (percent-encoded by httpx's
    rules when the URL holds anything beyond ASCII)."""
    if not url.isascii():
        return httpx.URL(url).raw_path.decode("ascii")
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


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
