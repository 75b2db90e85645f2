"""What a Twilio Studio sync remembers per flow, and how it reads each flow next: pure code.

Executions can only be filtered by creation date, are kept 30 days, and change after
creation (`active` -> `ended`). Each flow has its own cursor (the newest `date_created`
seen) and remembers its executions still active at the last sync. A sync of a flow either
re-lists from the oldest still-active execution (one request per 1000 executions), or
lists from its cursor and fetches each still-active execution by sid (one request each),
whichever the last sync's figures say is cheaper (`plan`).

A read may pause between pages when a checkpoint is due (a first load of a big flow would
otherwise be one transaction, however big): the cursor keeps what it was, plus a `Resume`
saying what the read has left (executions created before `to`) and what it found so far.
The next load reads the rest with `DateCreatedTo` and finishes the read as if it had not
paused. A read pauses only while the listing is newest-first, which the API does not
document: a flow listed in another order is read to its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..records import pack_times, parse_timestamp, unpack_times
from .settings import PAGE_SIZE, RETENTION_DAYS

RETENTION = timedelta(days=RETENTION_DAYS)
SECOND = timedelta(seconds=1)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


@dataclass
class Resume:
    """A read of a flow paused at a checkpoint: what is left, and what it found so far."""

    date_from: datetime | None  # the read's lower bound, as planned when it began
    to: datetime  # executions created before this are left to read (a whole second)
    after: FlowCursor  # newest, active and ended-at-newest of the rows read so far
    listed: int = 0  # rows listed so far
    since_oldest_active: int = 0  # of them, created at or after the oldest active one

    @classmethod
    def from_state(cls, raw: dict) -> Resume | None:
        to = parse_timestamp(raw.get("to"))
        if to is None:
            return None
        return cls(date_from=parse_timestamp(raw.get("from")), to=to,
                   after=FlowCursor.from_state(raw.get("after")),
                   listed=int(raw.get("listed") or 0),
                   since_oldest_active=int(raw.get("since_oldest_active") or 0))

    def to_state(self) -> dict:
        return {"from": _iso(self.date_from), "to": _iso(self.to), "after": self.after.to_state(),
                "listed": self.listed, "since_oldest_active": self.since_oldest_active}


@dataclass
class FlowCursor:
    """What one flow's sync remembers between runs (kept in the resource's state)."""

    newest: datetime | None = None
    active: dict[str, datetime] = field(default_factory=dict)
    # ended executions created in the newest second: their steps are loaded already
    boundary: set[str] = field(default_factory=set)
    # executions listed at the last sync from the oldest still-active one on
    rows_since_oldest_active: int = 0
    resume: Resume | None = None  # a read paused at a checkpoint, to finish first

    @classmethod
    def from_state(cls, raw: dict | None) -> FlowCursor:
        raw = raw or {}
        return cls(
            newest=parse_timestamp(raw.get("newest")),
            active=unpack_times(raw.get("active")),
            boundary=set(raw.get("boundary") or ()),
            rows_since_oldest_active=int(raw.get("rows_since_oldest_active") or 0),
            resume=Resume.from_state(raw["resume"]) if raw.get("resume") else None,
        )

    def to_state(self) -> dict:
        state = {
            "newest": _iso(self.newest),
            "active": pack_times(self.active),
            "boundary": sorted(self.boundary),
            "rows_since_oldest_active": self.rows_since_oldest_active,
        }
        if self.resume is not None:
            state["resume"] = self.resume.to_state()
        return state


@dataclass
class FlowPlan:
    """How one flow is read this sync."""

    date_from: datetime | None
    refresh: dict[str, datetime]
    expired: int = 0  # active executions past retention: gone from the api
    date_to: datetime | None = None  # a paused read's rest: executions created before this


def plan(cursor: FlowCursor, initial_date: datetime | None,
         now: datetime | None = None) -> FlowPlan:
    """Chooses between re-listing from the oldest active execution and fetching by sid.

    `now` is the API's clock (its `Date` header): executions created more than 30 days
    before it are gone. Unknown, the newest execution seen stands in for it.
    """
    resume = cursor.resume
    if cursor.newest is None and resume is None:
        return FlowPlan(date_from=initial_date, refresh={})
    floor = (now or cursor.newest or resume.after.newest or resume.to) - RETENTION
    live = {sid: ts for sid, ts in cursor.active.items() if ts >= floor}
    expired = len(cursor.active) - len(live)
    if resume is not None:
        # the rest of a paused read, as it was planned: the active executions it does not
        # list are fetched by sid when it ends (its warning about expired ones was given)
        return FlowPlan(date_from=resume.date_from, date_to=resume.to, refresh={
            sid: ts for sid, ts in live.items()
            if resume.date_from is None or ts < resume.date_from})
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
        self.need_steps: list[str] = []
        self.seen: set[str] = set()
        self._listed: list[datetime] = []  # this load's part of the read
        self._ended_at_newest: set[str] = set()
        self.after = FlowCursor(newest=before.newest)
        self.ordered = True  # every row listed so far newest-first
        self._last: datetime | None = None  # the oldest listed so far
        self._carried: Resume | None = before.resume
        if before.resume is not None:  # going on with a paused read
            found = before.resume.after
            self.after = FlowCursor(newest=found.newest, active=dict(found.active))
            self._ended_at_newest = set(found.boundary)
            self._last = before.resume.to
        self._to: datetime | None = None

    def add(self, row: dict, listed: bool = True) -> None:
        sid, ts, status = row["sid"], row["date_created"], row.get("status")
        self.seen.add(sid)
        if listed:
            self._listed.append(ts)
            if self._last is not None and ts > self._last:
                self.ordered = False
            self._last = ts
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

    def cut(self, rows: list[dict]) -> list[dict] | None:
        """Where a read may pause after a page of `rows` (newest-first, not yet added): the
        rows to keep, all but the page's oldest second, which the rest of the read lists
        again with the older ones (`DateCreatedTo` takes whole seconds). None when it may
        not pause: a row not newest-first so far, or a page all in one second."""
        last = self._last
        for row in rows:
            if not self.ordered or (last is not None and row["date_created"] > last):
                return None
            last = row["date_created"]
        if last is None:
            return None
        to = last.replace(microsecond=0) + SECOND
        keep = [row for row in rows if row["date_created"] >= to]
        if not keep:  # pausing here would read the same page again next load
            return None
        self._to = to
        return keep

    def pause(self) -> FlowCursor:
        """The cursor for the next load after `cut`'s rows were added: the old one with
        what the read found and what it has left."""
        assert self._to is not None, "pause() without cut()"
        active = self.after.active
        since = self._since(min(active.values())) if active else 0
        found = FlowCursor(newest=self.after.newest, active=dict(active),
                           boundary=set(self._ended_at_newest))
        listed = len(self._listed) + (self._carried.listed if self._carried else 0)
        return replace(self.before, resume=Resume(self.plan.date_from, self._to, found,
                                                  listed, since))

    def _since(self, oldest: datetime) -> int:
        """Rows listed (in every part of the read) created at or after `oldest`."""
        count = sum(1 for ts in self._listed if ts >= oldest)
        carried = self._carried
        if carried is not None:  # an earlier part's rows are all created at or after its `to`
            count += carried.listed if oldest < carried.to else carried.since_oldest_active
        return count

    def finish(self) -> FlowCursor:
        """The cursor for the next sync, once every row of the flow was added."""
        self.after.boundary = self._ended_at_newest
        if self.after.active:
            oldest = min(self.after.active.values())
            count = self._since(oldest)
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

