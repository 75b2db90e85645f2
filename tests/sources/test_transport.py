"""The standard-library transport against a real HTTP server on loopback: keep-alive reuse,
a connection the server closed while idle, failures as httpx's errors, gzip, proxies."""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sources.transport import StdlibTransport, default_transport


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        body = b'{"ok": true, "path": "%s"}' % self.path.encode()
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/gzip":
            body = gzip.compress(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) * (2 if self.path == "/truncated" else 1)))
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
        if self.path == "/close-after":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/truncated":
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.connections, srv.paths, srv.lock = 0, [], threading.Lock()
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def base(srv: ThreadingHTTPServer) -> str:
    return "http://{}:{}".format(*srv.server_address[:2])


def get(transport: StdlibTransport, url: str, read: float = 5.0) -> httpx.Response:
    request = httpx.Request("GET", url, extensions={"timeout": {"connect": 5.0, "read": read}})
    return transport.handle_request(request)


def test_one_connection_carries_a_thread_s_requests(server: ThreadingHTTPServer) -> None:
    transport = StdlibTransport()
    answers = [get(transport, f"{base(server)}/a?n={i}") for i in range(5)]
    assert [r.json()["path"] for r in answers] == [f"/a?n={i}" for i in range(5)]
    assert server.connections == 1
    transport.close()


def test_each_thread_has_its_own_connection(server: ThreadingHTTPServer) -> None:
    transport = StdlibTransport()
    threads = [threading.Thread(target=lambda: [get(transport, f"{base(server)}/t") for _ in range(3)])
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.paths) == 9
    assert server.connections == 3


def test_a_connection_the_server_closed_is_replaced_before_it_is_used(
        server: ThreadingHTTPServer) -> None:
    transport = StdlibTransport()
    assert get(transport, f"{base(server)}/close-after").status_code == 200
    time.sleep(0.1)  # the server's close reaches us
    assert get(transport, f"{base(server)}/next").json()["path"] == "/next"
    assert server.connections == 2
    assert server.paths == ["/close-after", "/next"]


def test_a_truncated_body_is_a_protocol_error(server: ThreadingHTTPServer) -> None:
    transport = StdlibTransport()
    with pytest.raises(httpx.RemoteProtocolError, match="IncompleteRead"):
        get(transport, f"{base(server)}/truncated")
    assert get(transport, f"{base(server)}/after").status_code == 200  # a new connection
    assert server.connections == 2


def test_a_slow_answer_is_a_read_timeout(server: ThreadingHTTPServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        get(StdlibTransport(), f"{base(server)}/slow", read=0.2)


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        get(StdlibTransport(), f"http://127.0.0.1:{port}/")


def test_gzip_bodies_are_decoded(server: ThreadingHTTPServer) -> None:
    assert get(StdlibTransport(), f"{base(server)}/gzip").json() == {"ok": True, "path": "/gzip"}


def test_only_gets_are_sent() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        StdlibTransport().handle_request(httpx.Request("POST", "http://127.0.0.1:1/"))


def test_a_proxy_from_the_environment_takes_httpx_s_transport(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport("https://studio.twilio.com", 8), StdlibTransport)
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert isinstance(default_transport("https://studio.twilio.com", 8), httpx.HTTPTransport)
    monkeypatch.setenv("no_proxy", "studio.twilio.com")
    assert isinstance(default_transport("https://studio.twilio.com", 8), StdlibTransport)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    """The same server behind TLS with a self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.connections, srv.paths, srv.lock = 0, [], threading.Lock()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, cert
    srv.shutdown()
    srv.server_close()


def test_https_verifies_the_server_s_certificate(tls_server) -> None:
    srv, cert = tls_server
    url = f"https://127.0.0.1:{srv.server_address[1]}/tls"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        get(StdlibTransport(), url)  # a self-signed certificate: refused
    trusting = ssl.create_default_context(cafile=str(cert))
    assert get(StdlibTransport(verify=trusting), url).json() == {"ok": True, "path": "/tls"}
