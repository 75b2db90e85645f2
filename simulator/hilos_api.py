"""Hilos WhatsApp API: flow executions, flow-execution contacts and starting a flow.

Lists are paged by page number (Django REST framework's `count/next/previous/results`).
Rows arriving while a client pages shift later pages, as they do on the real API.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import OrderedDict
from urllib.parse import urlencode

from . import shapes
from .http import Request, Response, match_route
from .world import (
    HILOS_STATUS_REASONS,
    HilosBatch,
    HilosFlow,
    HilosRun,
    World,
    hilos_time,
)

_ROUTES = [
    (re.compile(r"^/channel/whatsapp/flow-execution/?$"), "hilos.flow_executions.list"),
    (re.compile(r"^/channel/whatsapp/flow-execution/([^/]+)/?$"), "hilos.flow_executions.fetch"),
    (re.compile(r"^/channel/whatsapp/flow-execution-contact/?$"),
     "hilos.flow_execution_contacts.list"),
    (re.compile(r"^/channel/whatsapp/flow/([^/]+)/run/?$"), "hilos.flows.run"),
]
_BATCH_STATUS_LABELS = {
    "PROCESSING": "Processing", "READY": "Ready", "AWAITING_CONFIRMATION": "Awaiting Confirmation",
    "CONFIRMED": "Confirmed", "STARTING": "Starting", "RUNNING": "Running",
    "COMPLETED": "Completed", "CANCELED": "Canceled",
}
_UUID_FILTERS = {"flow", "flow_version", "flow_execution", "id", "contact"}


def route(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The operation name and path parameters for a Hilos path, or None."""
    return match_route(_ROUTES, path)


def authenticate(world: World, req: Request) -> Response | None:
    """None when the `Authorization: Token <token>` header is good, else DRF's 401."""
    auth = req.headers.get("authorization")
    if not auth:
        return Response(401, {"detail": "Authentication credentials were not provided."},
                        {"WWW-Authenticate": "Token"})
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "token" or token.strip() != world.config.hilos_api_token:
        return Response(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})
    return None


def duration_string(us: int | None) -> str:
    """A duration the way Django REST framework writes one ("[D ]HH:MM:SS[.ffffff]")."""
    if us is None:
        return "00:00:00"
    seconds, micro = divmod(us, 1_000_000)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    out = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if days:
        out = f"{days} {out}"
    if micro:
        out += f".{micro:06d}"
    return out


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class HilosApi:
    """Renders Hilos responses from the world."""

    def __init__(self, world: World) -> None:
        self.world = world
        # filtered, ordered views of the run list, keyed by filters and world state
        self._views: OrderedDict[tuple, list] = OrderedDict()

    def handle(self, req: Request, op: str, params: tuple[str, ...]) -> Response:
        expected = "POST" if op == "hilos.flows.run" else "GET"
        if req.method != expected:
            return Response(405, {"detail": f'Method "{req.method}" not allowed.'})
        bad = {k: [f"“{req.query[k]}” is not a valid UUID."] for k in _UUID_FILTERS
               if k in req.query and req.query[k] and not _is_uuid(req.query[k])}
        if bad:
            return Response(400, bad)
        return getattr(self, op.replace("hilos.", "").replace(".", "_"))(req, *params)

    # -- rendering (also used by tests as the truth) ---------------------------------------

    def _user(self, idx: int) -> dict:
        return dict(self.world.hilos_users[idx])

    def contact_run_json(self, run: HilosRun) -> dict:
        """One flow-execution contact as the API shows it now."""
        now = self.world.now_us
        status = run.status(now)
        c = run.contact
        record = {
            "id": run.id,
            "contact": {
                "first_name": c.first_name, "last_name": c.last_name, "email": c.email,
                "meta": {}, "canonical_phone": c.phone, "is_deleted": False, "phone": c.phone,
                "id": c.id, "created_on": hilos_time(c.created_on),
                "last_updated_on": hilos_time(max(c.created_on, run.created_on)),
                "source": "API", "external_url": None,
            },
            "status": status,
            "created_on": hilos_time(run.created_on),
            "status_reason": HILOS_STATUS_REASONS.get(status),
            "is_test": run.is_test,
            "flow_version": run.batch.flow.version_id,
            "flow": run.batch.flow.id,
            "flow_name": run.batch.flow.name,
        }
        if not self.world.config.spec_shapes:
            return record
        return shapes.shape_contact_run(record, shapes.hilos_shape(run.id))

    def _batch_common(self, b: HilosBatch) -> dict:
        now = self.world.now_us
        status = b.status(now)
        return {
            "status": status,
            "execute_for": b.execute_for,
            "id": b.id,
            "has_priority": b.has_priority,
            "flow_execution_variables": {},
            "start_on": None,
            **b.counters(now),
            "created_on": hilos_time(b.created_on),
            "avg_completion_time": duration_string(b.avg_completion_us(now)),
            "status_reason": "Canceled by user." if status == "CANCELED" else None,
            "status_last_change_on": hilos_time(b.status_last_change_on(now)),
        }

    def flow_execution_json(self, b: HilosBatch) -> dict:
        """A flow execution as the list shows it."""
        out = self._batch_common(b)
        out["status_triggered_by"] = (self.world.hilos_users[b.created_by]["id"]
                                      if out["status"] == "CANCELED" else None)
        out["created_by"] = self._user(b.created_by)
        out["flow_version"] = b.flow.version_id
        return out

    def _flow_simple(self, flow: HilosFlow) -> dict:
        return {
            "id": flow.id, "name": flow.name, "created_by": self._user(0),
            "created_on": hilos_time(flow.created_on), "is_active": True,
            "status": "PUBLISHED", "is_legacy": False,
            "channel": {"id": flow.channel_id, "channel_type": "WHATSAPP",
                        "name": "Main WhatsApp", "channel_id": f"5215500000{flow.channel_id:02d}",
                        "status": "ACTIVE", "created_on": hilos_time(flow.created_on),
                        "channel_provider": "META_CLOUD_API", "is_sandbox": False},
            "flow_execution_variables": [], "trigger_type": flow.trigger_type,
            "trigger_config": {},
        }

    def flow_execution_detail_json(self, b: HilosBatch) -> dict:
        """A flow execution as the detail endpoint shows it."""
        out = self._batch_common(b)
        out["status_triggered_by"] = self._user(b.created_by)
        out["created_by"] = self._user(b.created_by)
        out["contact_filters"] = []
        if self.world.config.spec_shapes and b.execute_for == "FILTERS" and b.runs:
            # a batch aimed at contacts by a filter that names one: real accounts have these
            out["contact_filters"] = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, b.id)),
                                       "field": "phone", "comparison": "exact",
                                       "value": b.runs[0].contact.phone}]
        out["contact_import"] = None
        flow = b.flow
        out["flow"] = self._flow_simple(flow)
        out["flow_version"] = {
            "id": flow.version_id, "flow": self._flow_simple(flow), "is_current_version": True,
            "version_name": flow.version_name, "version_description": None,
            "published_by": self._user(0), "created_on": hilos_time(flow.created_on),
            "last_updated_on": hilos_time(flow.created_on),
        }
        out["last_run_on"] = hilos_time(b.created_on)
        return out

    # -- paging ---------------------------------------------------------------------------

    def _page(self, req: Request, rows: list, render, page_size: int) -> Response:
        raw_page = req.query.get("page", "1")
        try:
            page = int(raw_page)
        except ValueError:
            return Response(404, {"detail": "Invalid page."})
        count = len(rows)
        pages = max(1, -(-count // page_size))
        if page < 1 or page > pages:
            return Response(404, {"detail": "Invalid page."})
        start = (page - 1) * page_size
        results = [render(r) for r in rows[start:start + page_size]]

        def link(n: int | None) -> str | None:
            if n is None:
                return None
            q = {k: v for k, v in req.query.items() if k != "page"}
            if n > 1:
                q["page"] = n
            return f"{req.base_url}{req.path}" + (f"?{urlencode(q)}" if q else "")

        return Response(200, {"count": count, "next": link(page + 1 if page < pages else None),
                              "previous": link(page - 1 if page > 1 else None),
                              "results": results})

    def _page_size(self, req: Request) -> int:
        cfg = self.world.config
        try:
            size = int(req.query.get("page_size", ""))
        except ValueError:
            return cfg.hilos_default_page_size
        if size < 1:
            return cfg.hilos_default_page_size
        return min(size, cfg.hilos_max_page_size)

    def _ordered(self, rows: list) -> list:
        order = self.world.config.hilos_order
        if order == "newest":
            return rows[::-1]
        if order == "unordered":
            return sorted(rows, key=lambda r: r.id)
        return rows

    def _view(self, kind: str, filters: dict, build) -> list:
        key = (kind, tuple(sorted(filters.items())), self.world.version, self.world.now)
        view = self._views.get(key)
        if view is None:
            view = build()
            self._views[key] = view
            while len(self._views) > 16:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return view

    # -- operations -------------------------------------------------------------------------

    def flow_executions_list(self, req: Request) -> Response:
        world = self.world
        filters = {k: req.query[k] for k in ("flow", "flow_version", "search") if req.query.get(k)}
        with world.lock:
            def build() -> list:
                now = world.now_us
                rows = world.hilos_batches
                if "flow" in filters:
                    rows = [b for b in rows if b.flow.id == filters["flow"]]
                if "flow_version" in filters:
                    rows = [b for b in rows if b.flow.version_id == filters["flow_version"]]
                if "search" in filters:
                    s = filters["search"].lower()
                    rows = [b for b in rows
                            if s in b.status(now).lower()
                            or s in _BATCH_STATUS_LABELS[b.status(now)].lower()
                            or s in world.hilos_users[b.created_by]["email"]]
                return self._ordered(rows)

            rows = self._view("batches", filters, build)
            return self._page(req, rows, self.flow_execution_json,
                              world.config.hilos_default_page_size)

    def flow_executions_fetch(self, req: Request, batch_id: str) -> Response:
        with self.world.lock:
            b = self.world.hilos_batch_by_id.get(batch_id)
            if b is None:
                return Response(404, {"detail": "Not found."})
            return Response(200, self.flow_execution_detail_json(b))

    def flow_execution_contacts_list(self, req: Request) -> Response:
        world = self.world
        names = ("contact", "flow", "flow_execution", "flow_version", "id", "is_active", "search")
        filters = {k: req.query[k] for k in names if req.query.get(k)}
        with world.lock:
            def build() -> list:
                now = world.now_us
                rows = world.hilos_runs
                if "flow_execution" in filters:
                    b = world.hilos_batch_by_id.get(filters["flow_execution"])
                    rows = sorted(b.runs, key=lambda r: (r.created_on, r.id)) if b else []
                if "flow" in filters:
                    rows = [r for r in rows if r.batch.flow.id == filters["flow"]]
                if "flow_version" in filters:
                    rows = [r for r in rows if r.batch.flow.version_id == filters["flow_version"]]
                if "id" in filters:
                    rows = [r for r in rows if r.id == filters["id"]]
                if "contact" in filters:
                    rows = [r for r in rows if r.contact.id == filters["contact"]]
                if "is_active" in filters:
                    # drf's boolean filter: "false"/"0" mean false, anything else true
                    want = filters["is_active"].lower() not in ("false", "0")
                    rows = [r for r in rows
                            if (r.status(now) in ("READY", "RUNNING")) == want]
                if "search" in filters:
                    s = filters["search"].lower()
                    rows = [r for r in rows
                            if any(s in (v or "").lower() for v in
                                   (r.contact.phone, r.contact.first_name,
                                    r.contact.last_name, r.contact.email))]
                return self._ordered(rows)

            if filters or world.config.hilos_order == "unordered":
                rows = self._view("runs", filters, build)
            else:
                rows = _ReversedView(world.hilos_runs) if world.config.hilos_order == "newest" \
                    else world.hilos_runs
            return self._page(req, rows, self.contact_run_json, self._page_size(req))

    def flows_run(self, req: Request, flow_id: str) -> Response:
        world = self.world
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return Response(400, {"detail": "JSON parse error."})
        if not isinstance(body, dict):
            return Response(400, {"non_field_errors": ["Invalid data."]})
        errors = {}
        if body.get("execute_for") != "LIST":
            errors["execute_for"] = ["This field is required." if "execute_for" not in body
                                     else f"“{body.get('execute_for')}” is not a valid choice."]
        contacts = body.get("contact_list")
        if not isinstance(contacts, list) or not contacts:
            errors["contact_list"] = ["This field is required."]
        elif not all(isinstance(c, dict) and c.get("phone") for c in contacts):
            errors["contact_list"] = ["Every contact needs a phone."]
        if errors:
            return Response(400, errors)
        with world.lock:
            if not any(f.id == flow_id for f in world.hilos_flows):
                return Response(404, {"detail": "Not found."})
            b = world.run_hilos_flow(flow_id, contacts, bool(body.get("has_priority", False)))
            out = self._batch_common(b)
            out["status_triggered_by"] = None
            out["contact_filters"] = []
            out["contact_list"] = [
                {"phone": r.contact.phone, "first_name": r.contact.first_name,
                 "last_name": r.contact.last_name, "email": r.contact.email, "meta": {},
                 "id": r.contact.id, "source": "API", "notes": [], "tags": []}
                for r in b.runs
            ]
            out["source"] = "API"
            out["is_hidden"] = False
            return Response(201, out)


class _ReversedView:
    """A newest-first view over an ascending list, without copying it."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, s: slice) -> list:
        n = len(self._rows)
        start, stop = s.start or 0, min(s.stop if s.stop is not None else n, n)
        if start >= stop:
            return []
        return self._rows[n - stop:n - start][::-1]
