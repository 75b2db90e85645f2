"""What a Twilio Studio sync remembers per flow, and how it reads each flow next: pure code.

Executions can only be filtered by creation date, are kept 30 days, and change after
creation (`active` -> `ended`). Each flow has its own cursor (the newest `date_created`
seen) and remembers its executions still active at the last sync. A sync of a flow either
re-lists from the oldest still-active execution (one request per 1000 executions), or
lists from its cursor and fetches each still-active execution by sid (one request each),
whichever the last sync's figures say is cheaper (`plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..records import parse_timestamp
from .settings import PAGE_SIZE, RETENTION_DAYS

RETENTION = timedelta(days=RETENTION_DAYS)


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


def plan(cursor: FlowCursor, initial_date: datetime | None,
         now: datetime | None = None) -> FlowPlan:
    """Chooses between re-listing from the oldest active execution and fetching by sid.

    `now` is the API's clock (its `Date` header): executions created more than 30 days
    before it are gone. Unknown, the newest execution seen stands in for it.
    """
    if cursor.newest is None:
        return FlowPlan(date_from=initial_date, refresh={})
    floor = (now or cursor.newest) - RETENTION
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


def pack_pending(executions: list[tuple[str, str]]) -> list[list[str]]:
    """Executions whose steps wait, as kept in state: [flow sid, "sid sid ..."] for each run
    of one flow's executions, in order. A first load can leave hundreds of thousands;
    one string per run keeps the state (which dlt copies and serialises every load) a
    fraction of the size of a pair per execution."""
    runs: list[list[str]] = []
    for flow, sid in executions:
        if runs and runs[-1][0] == flow:
            runs[-1].append(sid)
        else:
            runs.append([flow, sid])
    return [[run[0], " ".join(run[1:])] for run in runs]


def unpack_pending(raw: list | None) -> list[tuple[str, str]]:
    """`pack_pending`'s executions back, in order; an earlier release's [flow sid,
    execution sid] pairs are runs of one."""
    return [(flow, sid) for flow, sids in raw or [] for sid in str(sids).split()]

