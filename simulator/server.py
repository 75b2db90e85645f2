"""One HTTP server on loopback for both APIs, plus an admin API under `/_sim/`.

Admin endpoints (no auth; the server binds to loopback):
- `GET /_sim/info`: clock, credentials and base URLs to point a pipeline at;
- `POST /_sim/advance` `{"seconds": N, "new_twilio": n, "new_hilos": n, "finish_fraction": f}`
  (every account's world: they share one clock);
- `GET|POST /_sim/faults` `{"rates": {...}, "queue": [...], "retry_after": s,
  "slow_seconds": s, "latency_ms": ms}`; `POST /_sim/faults/clear`;
- `GET /_sim/stats`, `POST /_sim/stats/reset`: requests per operation and status;
- `POST /_sim/twilio/flows/{sid}/delete`: delete a flow, as a user would;
- `GET /_sim/minimum?since=<ISO 8601>`: the fewest requests a perfect sync would need
  for what changed since then (all of it without `since`); see `simulator.minimum`.

Several accounts (`accounts=`): one server for them all, as Twilio's and Hilos' are, each
account a world of its own (its own seed, flows and runs) behind credentials of its own;
a request is answered from the world its credentials open. The first account is
`default`; the admin endpoints but `advance` speak of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import hilos_api, twilio_api
from .faults import FaultInjector
from .http import Request, Response
from .minimum import minimum_requests
from .world import SimConfig, World, account_config, twilio_time

log = logging.getLogger("flowsync.simulator")


class Simulator:
    """The API simulator: a world, its HTTP server and the faults it injects.

    Use it in-process (`with Simulator(cfg) as sim: ...`) or from the command line
    (`flowsync simulate`).
    """

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0, accounts: Sequence[str] = ()) -> None:
        self.world = World(config)
        # account name -> (world, its Twilio API, its Hilos API); `default` first
        self.accounts = {"default": (self.world, twilio_api.TwilioApi(self.world),
                                     hilos_api.HilosApi(self.world))}
        for n, name in enumerate(accounts, start=1):
            world = World(account_config(self.world.config, name, n))
            self.accounts[name] = (world, twilio_api.TwilioApi(world), hilos_api.HilosApi(world))
        self.faults = FaultInjector(self.world.config.seed)
        self.twilio = self.accounts["default"][1]
        self.hilos = self.accounts["default"][2]
        self._stats_lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self._in_flight = 0  # Twilio requests being answered now
        self._in_flight_peak = 0
        # per Twilio operation: (sum, count) of the requests in flight seen by each 200
        self._in_flight_seen: dict[str, list[int]] = {}
        self._server = _Server((host, port), _Handler)
        self._server.sim = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Simulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="simulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serves in this thread until interrupted, then closes the socket."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests and the admin api use ---------------------------------------------------

    def advance(self, seconds: int, **kwargs) -> dict:
        """Every account's world moves on (one clock); what the default's did."""
        done = [world.advance(seconds, **kwargs) for world, _, _ in self.accounts.values()]
        return done[0]

    def account_world(self, name: str) -> World:
        return self.accounts[name][0]

    def stats(self) -> dict:
        with self._stats_lock:
            return {"requests": dict(self.requests), "total": sum(self.requests.values()),
                    "responses": dict(self.responses),
                    "faults": dict(self.faults.injected),
                    "twilio_concurrency_peak": self._in_flight_peak,
                    "twilio_concurrency_mean": {op: round(s / n, 2) for op, (s, n)
                                                in sorted(self._in_flight_seen.items())}}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self.requests.clear()
            self.responses.clear()
            self._in_flight_peak = 0
            self._in_flight_seen.clear()
        self.faults.injected.clear()

    def info(self) -> dict:
        cfg = self.world.config
        return {
            "now": twilio_time(self.world.now),
            "seed": cfg.seed,
            "twilio": {"base_url": self.base_url, "account_sid": cfg.twilio_account_sid,
                       "auth_token": cfg.twilio_auth_token,
                       "api_key_sid": cfg.twilio_api_key_sid,
                       "api_key_secret": cfg.twilio_api_key_secret,
                       "flows": len(self.world.live_twilio_flows()),
                       "executions": sum(len(self.world.twilio_retained(f))
                                         for f in self.world.live_twilio_flows()),
                       "active_executions": sum(
                           1 for f in self.world.live_twilio_flows()
                           for e in self.world.twilio_retained(f)
                           if e.ended_at > self.world.now)},
            "hilos": {"base_url": self.base_url, "api_token": cfg.hilos_api_token,
                      "flows": len(self.world.hilos_flows),
                      "flow_executions": len(self.world.hilos_batches),
                      "contact_runs": len(self.world.hilos_runs),
                      "open_contact_runs": sum(1 for r in self.world.hilos_runs
                                               if r.end > self.world.now_us)},
        }

    def pipeline_env(self) -> dict[str, str]:
        """The environment variables that point both of flowsync's sources at this
        simulator, with its own credentials (and 8 Twilio requests in flight: plenty on
        loopback, where the simulator shares the machine's cores); with several accounts,
        as `accounts` tables (JSON), every account by its name."""
        cfg = self.world.config
        if len(self.accounts) > 1:
            hilos, twilio = {}, {}
            for name, (world, _, _) in self.accounts.items():
                c = world.config
                hilos[name] = {"api_token": c.hilos_api_token, "base_url": self.base_url}
                twilio[name] = {"account_sid": c.twilio_account_sid,
                                "auth_token": c.twilio_auth_token, "base_url": self.base_url,
                                "max_workers": 8}
            return {"SOURCES__HILOS__ACCOUNTS": json.dumps(hilos),
                    "SOURCES__TWILIO_STUDIO__ACCOUNTS": json.dumps(twilio)}
        return {"SOURCES__HILOS__BASE_URL": self.base_url,
                "SOURCES__HILOS__API_TOKEN": cfg.hilos_api_token,
                "SOURCES__TWILIO_STUDIO__BASE_URL": self.base_url,
                "SOURCES__TWILIO_STUDIO__ACCOUNT_SID": cfg.twilio_account_sid,
                "SOURCES__TWILIO_STUDIO__AUTH_TOKEN": cfg.twilio_auth_token,
                "SOURCES__TWILIO_STUDIO__MAX_WORKERS": "8"}

    def describe(self) -> str:
        """What the simulator serves, in one line."""
        t, h = (info := self.info())["twilio"], info["hilos"]
        return (f"{t['flows']} Twilio Studio flows with {t['executions']:,} executions, "
                f"{h['flows']} Hilos flows with {h['contact_runs']:,} contact runs")

    def _count(self, op: str, status: str) -> None:
        with self._stats_lock:
            self.requests[op] += 1
            self.responses[status] += 1

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch_admin(self, req: Request) -> Response:
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError:
            return Response(400, {"error": "body is not JSON"})
        p, m = req.path, req.method
        try:
            if p == "/_sim/info" and m == "GET":
                return Response(200, self.info())
            if p == "/_sim/clock" and m == "GET":
                return Response(200, {"now": twilio_time(self.world.now)})
            if p == "/_sim/advance" and m == "POST":
                known = {"seconds", "new_twilio", "new_hilos", "finish_fraction"}
                if set(body) - known or "seconds" not in body:
                    return Response(400, {"error": f"expected keys {sorted(known)} with seconds"})
                return Response(200, self.advance(int(body.pop("seconds")), **body))
            if p == "/_sim/faults" and m == "GET":
                return Response(200, self.faults.describe())
            if p == "/_sim/faults" and m == "POST":
                self.faults.configure(**body)
                return Response(200, self.faults.describe())
            if p == "/_sim/faults/clear" and m == "POST":
                self.faults.clear()
                return Response(200, self.faults.describe())
            if p == "/_sim/stats" and m == "GET":
                return Response(200, self.stats())
            if p == "/_sim/stats/reset" and m == "POST":
                self.reset_stats()
                return Response(200, self.stats())
            if p == "/_sim/minimum" and m == "GET":
                since = req.query.get("since")
                stamp = None
                if since:
                    stamp = datetime.fromisoformat(since.replace("Z", "+00:00"))
                    if stamp.tzinfo is None:
                        raise ValueError("since needs a time zone")
                return Response(200, minimum_requests(
                    self.world, int(stamp.timestamp()) if stamp else None))
            if p.startswith("/_sim/twilio/flows/") and p.endswith("/delete") and m == "POST":
                self.world.delete_twilio_flow(p.split("/")[4])
                return Response(200, {"deleted": p.split("/")[4]})
        except (TypeError, ValueError, StopIteration) as exc:
            return Response(400, {"error": str(exc) or type(exc).__name__})
        return Response(404, {"error": f"no admin endpoint {m} {p}"})

    def dispatch_api(self, req: Request) -> tuple[str, str | None, Response | None]:
        """Routes an API request: (operation, fault to inject, response). Twilio requests
        are counted while answered: every answer carries `Twilio-Concurrent-Requests`, and
        above the account's concurrency limit the answer is 429 with error 20429."""
        r = twilio_api.route(req.path)
        if r is None:
            return self._dispatch(req, "hilos", self.hilos, hilos_api.route(req.path))
        with self._stats_lock:
            self._in_flight += 1
            now = self._in_flight
            self._in_flight_peak = max(self._in_flight_peak, now)
        try:
            limit = self.faults.settings.concurrency_limit
            if limit and now > limit:
                op, fault = r[0], "concurrency"
                resp: Response | None = twilio_api.error(
                    429, 20429, f"Too many concurrent requests: {now} (limit {limit})")
            else:
                op, fault, resp = self._dispatch(req, "twilio", self.twilio, r)
            if resp is not None:
                resp.headers["Twilio-Concurrent-Requests"] = str(now)
                if resp.status == 200:
                    with self._stats_lock:
                        seen = self._in_flight_seen.setdefault(op, [0, 0])
                        seen[0] += now
                        seen[1] += 1
            return op, fault, resp
        finally:
            with self._stats_lock:
                self._in_flight -= 1

    def _dispatch(self, req: Request, api: str, handler: Any,
                  r: tuple[str, dict] | None) -> tuple[str, str | None, Response | None]:
        if r is None:
            return "unknown", None, Response(404, {"detail": "Not found."})
        op, params = r
        fault = self.faults.draw(req.path)
        settings = self.faults.settings
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        if fault == "slow":
            time.sleep(settings.slow_seconds)
        if fault in ("429", "500", "502", "503"):
            return op, fault, _fault_response(api, int(fault), settings.retry_after)
        if fault == "maintenance":
            return op, fault, Response(
                200, "<html><body><h1>Down for maintenance</h1><p>Back soon.</p></body></html>",
                {"Content-Type": "text/html"})
        if fault == "wrong_shape":
            return op, fault, Response(200, {"status": "maintenance", "message": "back soon"})
        module = twilio_api if api == "twilio" else hilos_api
        auth = None
        for world, *apis in self.accounts.values():  # the world these credentials open
            auth = module.authenticate(world, req)
            if auth is None:
                handler = apis[0] if api == "twilio" else apis[1]
                break
        if auth is not None:
            return op, fault, auth
        if fault == "self_link" and api == "hilos":
            req.query.pop("page", None)  # every page is page 1
        resp = handler.handle(req, op, params)
        if fault == "self_link" and resp.status == 200 and isinstance(resp.body, dict):
            meta = resp.body.get("meta")
            if isinstance(meta, dict) and "next_page_url" in meta:
                meta["next_page_url"] = meta["url"]
            elif "next" in resp.body:
                resp.body["next"] = req.base_url + req.path + "?page=2"
        return op, fault, resp


def _fault_response(api: str, status: int, retry_after: int) -> Response:
    if status == 429:
        body = (twilio_api.error(429, 20429, "Too Many Requests").body if api == "twilio"
                else {"detail": f"Request was throttled. Expected available in {retry_after} seconds."})
        return Response(429, body, {"Retry-After": str(retry_after)})
    if status == 500:
        return Response(500, twilio_api.error(500, 20500, "Internal Server Error").body
                        if api == "twilio" else {"detail": "A server error occurred."})
    label = {502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return Response(status, f"<html><body><h1>{status} {label}</h1></body></html>",
                    {"Content-Type": "text/html"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sim: Simulator

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            # a client that went away (killed, timed out) is no simulator fault
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, nagle and delayed acks
    # hold each keep-alive response back ~40 ms
    disable_nagle_algorithm = True
    server: _Server

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header on the world's clock, as a real API's is on its own."""
        import email.utils

        return email.utils.formatdate(self.server.sim.world.now, usegmt=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        sim = self.server.sim
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        req = Request(
            method=self.command, path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body, base_url=f"http://{host}",
        )
        if req.path.startswith("/_sim/"):
            self._send(sim.dispatch_admin(req))
            return
        try:
            op, fault, resp = sim.dispatch_api(req)
        except Exception:
            # a simulator bug must be loud, not look like an injected dropped connection
            log.exception("simulator error on %s %s", req.method, self.path)
            op, fault = "error", None
            resp = Response(500, {"detail": "simulator internal error (see its log)"},
                            {"X-Simulator-Error": "1"})
        if fault == "drop":
            sim._count(op, "dropped")
            self.close_connection = True
            return
        sim._count(op, str(resp.status) if fault != "truncate" else "truncated")
        self._send(resp, truncate=fault == "truncate")

    def _send(self, resp: Response, truncate: bool = False) -> None:
        if isinstance(resp.body, str):
            payload = resp.body.encode()
            ctype = "text/html; charset=utf-8"
        else:
            payload = json.dumps(resp.body, separators=(",", ":")).encode()
            ctype = "application/json"
        if truncate:
            payload = payload[: max(1, len(payload) // 2)]
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.headers.pop("Content-Type", ctype))
        self.send_header("Content-Length", str(len(payload)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
