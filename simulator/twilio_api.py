"""Twilio Studio v1/v2: Flows, Executions and Steps, as the official specs describe them.

Lists are newest-first and paged by an opaque `PageToken` that marks the last row served
(keyset paging), so rows arriving between two page requests neither shift nor repeat
what the next page holds.
"""

from __future__ import annotations

import base64
import bisect
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from . import shapes
from .http import Request, Response, match_route
from .world import (
    TWILIO_RETENTION_SECONDS,
    TwilioExecution,
    TwilioFlow,
    World,
    twilio_time,
)

_ROUTES = [
    (re.compile(r"^/(v[12])/Flows$"), "twilio.flows.list"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)$"), "twilio.flows.fetch"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions$"), "twilio.executions.list"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions/([^/]+)$"), "twilio.executions.fetch"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions/([^/]+)/Steps$"), "twilio.steps.list"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions/([^/]+)/Context$"),
     "twilio.execution_context.fetch"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions/([^/]+)/Steps/([^/]+)$"), "twilio.steps.fetch"),
    (re.compile(r"^/(v[12])/Flows/([^/]+)/Executions/([^/]+)/Steps/([^/]+)/Context$"),
     "twilio.step_context.fetch"),
]


def route(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The operation name and path parameters for a Twilio path, or None."""
    return match_route(_ROUTES, path)


def error(status: int, code: int, message: str, headers: dict | None = None) -> Response:
    """Twilio's error body."""
    return Response(status, {"code": code, "message": message,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}",
                             "status": status}, headers or {})


def authenticate(world: World, req: Request) -> Response | None:
    """None when the basic-auth credential is good, else Twilio's 401."""
    cfg = world.config
    good = {
        (cfg.twilio_account_sid, cfg.twilio_auth_token),
        (cfg.twilio_api_key_sid, cfg.twilio_api_key_secret),
    }
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, pw = "", ""
        if (user, pw) in good:
            return None
    return error(401, 20003, "Authenticate",
                 {"WWW-Authenticate": 'Basic realm="Twilio API"'})


class _BadParamError(Exception):
    pass


def _int_param(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadParamError(f"Invalid {name}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise _BadParamError(f"Invalid {name}: must be between {lo} and {hi}")
    return value


def _date_param(req: Request, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        raise _BadParamError(f"Invalid {name}: {raw!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # twilio keeps creation times to the second: a fraction rounds up, so a bound never
    # admits a row from before it
    ts = dt.timestamp()
    return int(ts) if ts == int(ts) else int(ts) + 1


def _encode_token(key: tuple[int, str]) -> str:
    raw = f"{key[0]}:{key[1]}".encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, str]:
    try:
        if not token.startswith("PT"):
            raise ValueError
        body = token[2:] + "=" * (-len(token[2:]) % 4)
        ts, _, sid = base64.urlsafe_b64decode(body).decode().partition(":")
        return int(ts), sid
    except ValueError:
        raise _BadParamError("Invalid PageToken") from None


def _page_desc(items: list, keys: list[tuple[int, str]], lo: int, hi: int,
               token: tuple[int, str] | None, size: int) -> tuple[list, tuple[int, str] | None]:
    """Newest-first page of items[lo:hi] after `token`; also the next page's token."""
    if token is not None:
        hi = min(hi, bisect.bisect_left(keys, token, lo, hi))
    start = max(lo, hi - size)
    page = items[start:hi][::-1]
    nxt = keys[start] if start > lo and page else None
    return page, nxt


class TwilioApi:
    """Renders Twilio Studio responses from the world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, req: Request, op: str, params: tuple[str, ...]) -> Response:
        if req.method != "GET":
            return error(405, 20004, "Method not allowed")
        try:
            return getattr(self, op.replace("twilio.", "").replace(".", "_"))(req, *params)
        except _BadParamError as exc:
            return error(400, 20001, str(exc))

    # -- urls and meta ------------------------------------------------------------------

    def _meta(self, req: Request, key: str, page_size: int, next_query: dict | None) -> dict:
        base = req.base_url + req.path
        page = int(req.query.get("Page", "0") or 0)
        keep = {k: v for k, v in req.query.items() if k not in ("Page", "PageToken", "PageSize")}
        first = {**keep, "PageSize": page_size, "Page": 0}
        current = {**keep, "PageSize": page_size, "Page": page}
        if "PageToken" in req.query:
            current["PageToken"] = req.query["PageToken"]
        return {
            "page": page,
            "page_size": page_size,
            "first_page_url": f"{base}?{urlencode(first)}",
            "previous_page_url": None,
            "url": f"{base}?{urlencode(current)}",
            "next_page_url": (
                f"{base}?{urlencode({**keep, 'PageSize': page_size, 'Page': page + 1, **next_query})}"
                if next_query else None),
            "key": key,
        }

    def _flow_json(self, req: Request, v: str, flow: TwilioFlow, detail: bool) -> dict:
        cfg = self.world.config
        url = f"{req.base_url}/{v}/Flows/{flow.sid}"
        if v == "v1":
            return {
                "sid": flow.sid, "account_sid": cfg.twilio_account_sid,
                "friendly_name": flow.friendly_name, "status": flow.status,
                "version": flow.revision, "date_created": twilio_time(flow.date_created),
                "date_updated": twilio_time(flow.date_updated), "url": url,
                "links": {"engagements": f"{url}/Engagements", "executions": f"{url}/Executions"},
            }
        return {
            "sid": flow.sid, "account_sid": cfg.twilio_account_sid, "author_sid": flow.author_sid,
            "friendly_name": flow.friendly_name,
            "definition": flow.definition() if detail else None,
            "status": flow.status, "revision": flow.revision,
            "commit_message": f"revision {flow.revision}" if detail else None,
            "valid": True if detail else None, "errors": [] if detail else None,
            "warnings": [] if detail else None,
            "webhook_url": f"https://webhooks.twilio.com/v1/Accounts/{cfg.twilio_account_sid}/Flows/{flow.sid}",
            "date_created": twilio_time(flow.date_created),
            "date_updated": twilio_time(flow.date_updated), "url": url,
            "links": {"test_users": f"{url}/TestUsers", "revisions": f"{url}/Revisions",
                      "executions": f"{url}/Executions"},
        }

    def execution_json(self, base_url: str, v: str, ex: TwilioExecution) -> dict:
        """One execution as the API shows it now (also used by tests as the truth)."""
        now = self.world.now
        cfg = self.world.config
        status = ex.status(now)
        if status == "ended":
            updated = None if ex.null_updated else twilio_time(ex.ended_at)
        else:
            steps = ex.steps(now)
            updated = twilio_time(steps[-1][1]) if steps else None
        url = f"{base_url}/{v}/Flows/{ex.flow.sid}/Executions/{ex.sid}"
        out = {"sid": ex.sid, "account_sid": cfg.twilio_account_sid, "flow_sid": ex.flow.sid}
        if v == "v1":
            out["contact_sid"] = ex.contact_sid
        out["contact_channel_address"] = ex.address
        shaped = cfg.spec_shapes
        if v == "v2":
            out["flow_version"] = (str(ex.flow.revision)
                                   if cfg.type_drift and shapes.drifts(ex.sid)
                                   else ex.flow.revision)
        out.update({
            "context": self.execution_context(ex) if shaped else {},
            "status": status,
            "date_created": twilio_time(ex.date_created),
            "date_updated": updated,
        })
        if v == "v2":
            out["initiated_by"] = ex.initiated_by
        out["url"] = url
        out["links"] = {"steps": f"{url}/Steps", "execution_context": f"{url}/Context"}
        return out

    def execution_context(self, ex: TwilioExecution) -> dict:
        widgets = [s[3] for s in ex.steps(self.world.now)]
        return shapes.execution_context(ex.sid, ex.address, widgets)

    def step_json(self, base_url: str, v: str, ex: TwilioExecution, step: tuple) -> dict:
        sid, ts, name, frm, to, wtype = step
        url = f"{base_url}/{v}/Flows/{ex.flow.sid}/Executions/{ex.sid}/Steps/{sid}"
        return {
            "sid": sid, "account_sid": self.world.config.twilio_account_sid,
            "flow_sid": ex.flow.sid, "execution_sid": ex.sid, "parent_step_sid": None,
            "name": name,
            "context": shapes.step_context(sid, frm) if self.world.config.spec_shapes else {},
            "transitioned_from": frm, "transitioned_to": to,
            "type": wtype, "date_created": twilio_time(ts), "date_updated": twilio_time(ts),
            "url": url, "links": {"step_context": f"{url}/Context"},
        }

    # -- operations -----------------------------------------------------------------------

    def flows_list(self, req: Request, v: str) -> Response:
        size = _int_param(req, "PageSize", 50, 1, 1000)
        token = req.query.get("PageToken")
        with self.world.lock:
            flows = sorted(self.world.live_twilio_flows(), key=lambda f: (f.date_created, f.sid))
            keys = [(f.date_created, f.sid) for f in flows]
            page, nxt = _page_desc(flows, keys, 0, len(flows),
                                   _decode_token(token) if token else None, size)
            body = {"flows": [self._flow_json(req, v, f, detail=False) for f in page],
                    "meta": self._meta(req, "flows", size,
                                       {"PageToken": _encode_token(nxt)} if nxt else None)}
        return Response(200, body)

    def flows_fetch(self, req: Request, v: str, sid: str) -> Response:
        with self.world.lock:
            flow = self.world.twilio_flow(sid)
            if flow is None:
                return self._not_found(req)
            return Response(200, self._flow_json(req, v, flow, detail=True))

    def executions_list(self, req: Request, v: str, flow_sid: str) -> Response:
        size = _int_param(req, "PageSize", 50, 1, 1000)
        date_from = _date_param(req, "DateCreatedFrom")
        date_to = _date_param(req, "DateCreatedTo")
        status = req.query.get("status") if v == "v2" else None
        if status is not None and status not in ("active", "ended"):
            raise _BadParamError("Invalid status: must be active or ended")
        token = req.query.get("PageToken")
        token_key = _decode_token(token) if token else None
        world = self.world
        with world.lock:
            flow = world.twilio_flow(flow_sid)
            if flow is None:
                return self._not_found(req)
            floor = world.now - TWILIO_RETENTION_SECONDS
            lo_ts = max(floor, date_from) if date_from is not None else floor
            items, keys = flow.executions, flow.keys
            lo = bisect.bisect_left(keys, (lo_ts, ""))
            hi = bisect.bisect_left(keys, (date_to, "")) if date_to is not None else len(keys)
            if status is not None:
                items = [e for e in items[lo:hi] if e.status(world.now) == status]
                keys = [(e.date_created, e.sid) for e in items]
                lo, hi = 0, len(items)
            page, nxt = _page_desc(items, keys, lo, max(lo, hi), token_key, size)
            body = {"executions": [self.execution_json(req.base_url, v, e) for e in page],
                    "meta": self._meta(req, "executions", size,
                                       {"PageToken": _encode_token(nxt)} if nxt else None)}
        return Response(200, body)

    def executions_fetch(self, req: Request, v: str, flow_sid: str, sid: str) -> Response:
        with self.world.lock:
            ex = self.world.twilio_execution(flow_sid, sid)
            if ex is None:
                return self._not_found(req)
            return Response(200, self.execution_json(req.base_url, v, ex))

    def steps_list(self, req: Request, v: str, flow_sid: str, sid: str) -> Response:
        size = _int_param(req, "PageSize", 50, 1, 1000)
        token = req.query.get("PageToken")
        with self.world.lock:
            ex = self.world.twilio_execution(flow_sid, sid)
            if ex is None:
                return self._not_found(req)
            steps = ex.steps(self.world.now)
            keys = [(s[1], s[0]) for s in steps]
            page, nxt = _page_desc(steps, keys, 0, len(steps),
                                   _decode_token(token) if token else None, size)
            body = {"steps": [self.step_json(req.base_url, v, ex, s) for s in page],
                    "meta": self._meta(req, "steps", size,
                                       {"PageToken": _encode_token(nxt)} if nxt else None)}
        return Response(200, body)

    def execution_context_fetch(self, req: Request, v: str, flow_sid: str, sid: str) -> Response:
        with self.world.lock:
            ex = self.world.twilio_execution(flow_sid, sid)
            if ex is None:
                return self._not_found(req)
            context = self.execution_context(ex) if self.world.config.spec_shapes else {}
            return Response(200, {"account_sid": self.world.config.twilio_account_sid,
                                  "context": context, "flow_sid": flow_sid,
                                  "execution_sid": sid, "url": req.base_url + req.path})

    def _step(self, flow_sid: str, sid: str, step_sid: str) -> tuple | None:
        ex = self.world.twilio_execution(flow_sid, sid)
        step = next((s for s in ex.steps(self.world.now) if s[0] == step_sid), None) if ex else None
        return (ex, step) if step else None

    def steps_fetch(self, req: Request, v: str, flow_sid: str, sid: str, step_sid: str) -> Response:
        with self.world.lock:
            found = self._step(flow_sid, sid, step_sid)
            if found is None:
                return self._not_found(req)
            return Response(200, self.step_json(req.base_url, v, *found))

    def step_context_fetch(self, req: Request, v: str, flow_sid: str, sid: str,
                           step_sid: str) -> Response:
        with self.world.lock:
            found = self._step(flow_sid, sid, step_sid)
            if found is None:
                return self._not_found(req)
            step = found[1]
            context = (shapes.step_context(step_sid, step[3]) if self.world.config.spec_shapes
                       else {})
            return Response(200, {"account_sid": self.world.config.twilio_account_sid,
                                  "context": context, "execution_sid": sid, "flow_sid": flow_sid,
                                  "step_sid": step_sid, "url": req.base_url + req.path})

    def _not_found(self, req: Request) -> Response:
        return error(404, 20404, f"The requested resource {req.path} was not found")
