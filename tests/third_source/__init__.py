"""A third provider, `acme` (support tickets), declared the way the real sources are
(`sources.spec`): what a new provider adds is this package and one registry line. Its
API is a small HTTP server of the test's own (`AcmeApi`), reached over loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dlt

from sources.checkpoint import Checkpoint
from sources.http import HttpClient, page_of
from sources.privacy import Fields, Privacy
from sources.spec import RawTable, Setting, Source, http_url

TICKETS = [{"id": f"T{i}", "subject": f"ticket {i}", "email": f"user{i}@example.com",
            "created_on": f"2026-11-0{1 + i % 5}T10:00:00Z"} for i in range(7)]


class AcmeApi:
    """`GET /tickets?page=N` (3 a page, a bearer token), on a free loopback port."""

    def __init__(self, token: str) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests += 1
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self._send(401, {"detail": "bad token"})
                    return
                page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
                rows = TICKETS[(page - 1) * 3:page * 3]
                self._send(200, {"results": rows, "next": page * 3 < len(TICKETS)})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def connect(settings: Mapping[str, Any]) -> HttpClient:
    return HttpClient(settings["base_url"], service="Acme", auth_hint="sources.acme.api_token",
                      headers={"Authorization": f"Bearer {settings['api_token']}"})


def build(settings: Mapping[str, Any], http: HttpClient, checkpoint: Checkpoint,
          privacy: Privacy) -> Any:
    scrub = privacy.scrubber(TICKET)

    @dlt.resource(name="tickets", primary_key="id", write_disposition="merge")
    def tickets() -> Iterator[list[dict]]:
        page = 1
        while True:
            body = http.get_json("/tickets", {"page": page}, endpoint="/tickets",
                                 expect=page_of("results"))
            yield [scrub(r) if scrub else r for r in body["results"]]
            if not body["next"]:
                return
            page += 1

    @dlt.source(name="acme")
    def acme() -> Any:
        return tickets

    return acme()


TICKET = Fields(personal=("email",))
SOURCE = Source(
    name="acme", display="Acme Support",
    settings=(Setting("api_token", secret=True),
              Setting("base_url", "https://api.acme.example", check=http_url)),
    credentials=(("api_token",),),
    tables=(RawTable("tickets", "id", TICKET),),
    connect=connect, build=build,
)
