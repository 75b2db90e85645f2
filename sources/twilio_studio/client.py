"""Twilio Studio paging and the per-flow sync plan, as plain code.

Executions can only be filtered by creation date, are kept 30 days, and change after
creation (`active` -> `ended`). Each flow has its own cursor (the newest `date_created`
seen) and remembers its executions still active at the last sync. A sync of a flow either
re-lists from the oldest still-active execution (one request per 1000 executions), or
lists from its cursor and fetches each still-active execution by sid (one request each),
whichever the last sync's figures say is cheaper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..http import HttpClient, NotFoundError
from ..records import parse_timestamp
from .settings import PAGE_SIZE, RETENTION_DAYS

log = logging.getLogger("flowsync.twilio_studio")

RETENTION = timedelta(days=RETENTION_DAYS)


def twilio_date(dt: datetime) -> str:
    """A UTC datetime as Twilio's date-time query parameters take it."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class TwilioClient:
    """Reads Twilio Studio lists and resources through an `HttpClient`."""

    def __init__(self, http: HttpClient, api_version: str) -> None:
        self.http = http
        self.v = api_version
        self._flows: list[dict] | None = None
        self._selected: list[dict] | None = None
        self._lock = threading.Lock()

    def pages(self, path: str, key: str, params: dict[str, Any], endpoint: str) -> Iterator[list[dict]]:
        """Pages of `key`, following `meta.next_page_url` on our own base URL."""
        url: str | None = path
        query: dict[str, Any] | None = params
        while url:
            body = self.http.get_json(url, query, endpoint=endpoint)
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise ValueError(f"Twilio Studio {endpoint}: expected a page with `{key}`, "
                                 f"got {type(body).__name__}")
            yield body[key]
            nxt = (body.get("meta") or {}).get("next_page_url")
            if nxt:
                # the link names studio.twilio.com; keep the path and query, on our base url
                parts = urlsplit(nxt)
                url, query = f"{parts.path}?{parts.query}", None
            else:
                url = None

    def flows(self) -> list[dict]:
        """Every flow of the account, listed once per client."""
        with self._lock:
            if self._flows is None:
                self._flows = [f for page in self.pages(f"/{self.v}/Flows", "flows",
                                                        {"PageSize": PAGE_SIZE}, f"/{self.v}/Flows")
                               for f in page]
            return self._flows

    def flow(self, sid: str) -> dict | None:
        try:
            return self.http.get_json(f"/{self.v}/Flows/{sid}", endpoint=f"/{self.v}/Flows/{{Sid}}")
        except NotFoundError:
            return None

    def selected_flows(self, wanted: list[str] | None) -> list[dict]:
        """The flows to sync: every flow, or the wanted ones that exist; fetched once."""
        if wanted is None:
            return self.flows()
        with self._lock:
            if self._selected is None:
                self._selected = []
                for sid in wanted:
                    flow = self.flow(sid)
                    if flow is None:
                        log.warning("Twilio Studio flow %s not found (deleted?); skipped", sid)
                    else:
                        self._selected.append(flow)
            return self._selected

    def execution_pages(self, flow_sid: str, date_from: datetime | None) -> Iterator[list[dict]]:
        params: dict[str, Any] = {"PageSize": PAGE_SIZE}
        if date_from is not None:
            params["DateCreatedFrom"] = twilio_date(date_from)
        return self.pages(f"/{self.v}/Flows/{flow_sid}/Executions", "executions", params,
                          f"/{self.v}/Flows/{{FlowSid}}/Executions")

    def execution(self, flow_sid: str, sid: str) -> dict | None:
        try:
            return self.http.get_json(f"/{self.v}/Flows/{flow_sid}/Executions/{sid}",
                                      endpoint=f"/{self.v}/Flows/{{FlowSid}}/Executions/{{Sid}}")
        except NotFoundError:
            return None

    def steps(self, flow_sid: str, sid: str) -> list[dict] | None:
        """Every step of an execution; None when the execution is gone."""
        path = f"/{self.v}/Flows/{flow_sid}/Executions/{sid}/Steps"
        try:
            return [s for page in self.pages(path, "steps", {"PageSize": PAGE_SIZE},
                                             f"/{self.v}/Flows/{{FlowSid}}/Executions/{{ExecutionSid}}/Steps")
                    for s in page]
        except NotFoundError:
            return None


@dataclass
class FlowCursor:
    """What one flow's sync remembers between runs (kept in the resource's state)."""

    newest: datetime | None = None
    active: dict[str, datetime] = field(default_factory=dict)
    # ended executions created in the newest second: their steps are loaded already
    boundary: set[str] = field(default_factory=set)
    # executions listed at the last sync from the oldest still-active one on
    rows_since_oldest_active: int = 0

    @classmethod
    def from_state(cls, raw: dict | None) -> FlowCursor:
        raw = raw or {}
        return cls(
            newest=parse_timestamp(raw.get("newest")),
            active={sid: ts for sid, v in (raw.get("active") or {}).items()
                    if (ts := parse_timestamp(v)) is not None},
            boundary=set(raw.get("boundary") or ()),
            rows_since_oldest_active=int(raw.get("rows_since_oldest_active") or 0),
        )

    def to_state(self) -> dict:
        return {
            "newest": self.newest.isoformat() if self.newest else None,
            "active": {sid: ts.isoformat() for sid, ts in self.active.items()},
            "boundary": sorted(self.boundary),
            "rows_since_oldest_active": self.rows_since_oldest_active,
        }


@dataclass
class FlowPlan:
    """How one flow is read this sync."""

    date_from: datetime | None
    refresh: dict[str, datetime]
    expired: int = 0  # active executions past retention: gone from the api


def plan(cursor: FlowCursor, initial_date: datetime | None) -> FlowPlan:
    """Chooses between re-listing from the oldest active execution and fetching by sid."""
    if cursor.newest is None:
        return FlowPlan(date_from=initial_date, refresh={})
    floor = cursor.newest - RETENTION
    live = {sid: ts for sid, ts in cursor.active.items() if ts >= floor}
    expired = len(cursor.active) - len(live)
    if not live:
        return FlowPlan(date_from=cursor.newest, refresh={}, expired=expired)
    extra_pages = -(-(cursor.rows_since_oldest_active + 1) // PAGE_SIZE) - 1
    if extra_pages <= len(live):
        return FlowPlan(date_from=min(live.values()), refresh={}, expired=expired)
    return FlowPlan(date_from=cursor.newest, refresh=live, expired=expired)


class FlowProgress:
    """Folds one flow's rows into its next cursor and the executions needing steps."""

    def __init__(self, before: FlowCursor, plan: FlowPlan) -> None:
        self.before = before
        self.plan = plan
        self.after = FlowCursor(newest=before.newest)
        self.need_steps: list[str] = []
        self.seen: set[str] = set()
        self._listed: list[datetime] = []
        self._ended_at_newest: set[str] = set()

    def add(self, row: dict, listed: bool = True) -> None:
        sid, ts, status = row["sid"], row["date_created"], row.get("status")
        self.seen.add(sid)
        if listed:
            self._listed.append(ts)
        if self.after.newest is None or ts > self.after.newest:
            self.after.newest = ts
            self._ended_at_newest = set()
        if ts == self.after.newest and status != "active":
            self._ended_at_newest.add(sid)
        if status == "active":
            self.after.active[sid] = ts
        elif self._first_seen_ended(sid, ts):
            self.need_steps.append(sid)

    def _first_seen_ended(self, sid: str, ts: datetime) -> bool:
        b = self.before
        if b.newest is None or sid in b.active or ts > b.newest:
            return True
        return ts == b.newest and sid not in b.boundary

    def finish(self) -> FlowCursor:
        """The cursor for the next sync, once every row of the flow was added."""
        self.after.boundary = self._ended_at_newest
        if self.after.active:
            oldest = min(self.after.active.values())
            count = sum(1 for ts in self._listed if ts >= oldest)
            if self.plan.date_from is not None and oldest < self.plan.date_from:
                count += self.before.rows_since_oldest_active
            self.after.rows_since_oldest_active = count
        return self.after
