"""What a Hilos sync remembers, and how far back the next one reads: pure code.

The API has no date filter, and runs change after they are created (READY/RUNNING
contacts finish; batches move their counters), so each sync re-reads a window: newest-first
pages down to the oldest run still open at the last sync, never further back than
`lookback_days` before the newest run seen. `ContactsCursor` and `ExecutionsCursor` are
that memory (saved in the resource's state with the load), their `plan` the next window;
`window.Window` applies it to the pages as they come, checking the order it relies on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..records import pack_times, parse_timestamp, unpack_times
from .settings import CONTACT_OPEN, EXECUTION_FINAL
from .window import Order

log = logging.getLogger("flowsync.hilos")

DEFAULT_EXECUTIONS_PAGE = 20  # the executions list's fixed page size, until one is seen


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a and b else a or b


@dataclass
class Backfill:
    """A read down the list that a checkpoint cut short, to go on with next load.

    Pages 1..`page` (of `page_size` rows) of a list then `count` rows long were read; what
    remains are the rows older than `below`, and those at `below` not in `ids`, down to
    `until` (the window start that read had to reach; None: the end of the list).
    """

    page: int
    page_size: int
    count: int | None
    below: datetime
    ids: set[str]
    until: datetime | None

    @classmethod
    def from_state(cls, raw: dict | None) -> Backfill | None:
        below = parse_timestamp((raw or {}).get("below"))
        if not raw or below is None:
            return None
        return cls(int(raw["page"]), int(raw["page_size"]), raw.get("count"), below,
                   set(raw.get("ids") or ()), parse_timestamp(raw.get("until")))

    def to_state(self) -> dict:
        return {"page": self.page, "page_size": self.page_size, "count": self.count,
                "below": _iso(self.below), "ids": sorted(self.ids), "until": _iso(self.until)}

    def first_page(self, count_now: int | None) -> int:
        """Where the rest starts now: runs that arrived on top since pushed the unread rows
        down by the list's growth. One page early, so a miscount cannot skip a row."""
        growth = max(0, count_now - self.count) if count_now is not None and \
            self.count is not None else 0
        return max(1, (self.page * self.page_size + growth) // self.page_size)

    def keeps(self, row: dict) -> bool:
        """Whether a row is one the cut-short read had not reached."""
        ts = row["created_on"]
        return ts < self.below or (ts == self.below and row["id"] not in self.ids)


def cut_after(rows: list[dict], page: int, count: int | None, until: datetime | None,
              before: Backfill | None = None) -> Backfill | None:
    """The backfill that goes on after a full page of parsed rows; None for an empty one.
    `before`: the backfill this read went on with, whose ids at the same time still count."""
    if not rows:
        return None
    below = min(r["created_on"] for r in rows)
    ids = {r["id"] for r in rows if r["created_on"] == below}
    if before is not None and before.below == below:
        ids |= before.ids
    return Backfill(page, len(rows), count, below, ids, until)


@dataclass
class ContactsCursor:
    """`flow_execution_contacts`' memory between syncs."""

    newest: datetime | None = None
    oldest_open: datetime | None = None
    order: Order = field(default_factory=Order)
    backfill: Backfill | None = None

    @classmethod
    def from_state(cls, raw: dict | None) -> ContactsCursor:
        raw = raw or {}
        return cls(parse_timestamp(raw.get("newest")), parse_timestamp(raw.get("oldest_open")),
                   Order(bool(raw.get("order_verified")), bool(raw.get("unordered"))),
                   Backfill.from_state(raw.get("backfill")))

    def to_state(self) -> dict:
        return {"newest": _iso(self.newest), "oldest_open": _iso(self.oldest_open),
                "order_verified": self.order.verified, "unordered": self.order.unordered,
                "backfill": self.backfill.to_state() if self.backfill else None}


@dataclass
class WindowPlan:
    """Where a sync's re-read window starts (None: read everything)."""

    start: datetime | None
    # the oldest open run's time when lookback_days cut the window short of it
    cut_from: datetime | None = None
    # open flow executions to fetch one by one unless the window reads them
    refresh: dict[str, datetime] = field(default_factory=dict)
    # open flow executions older than lookback_days: no longer refreshed
    dropped: int = 0


def plan_contacts(cursor: ContactsCursor, lookback: timedelta,
                  initial_date: datetime | None) -> WindowPlan:
    """Down to the oldest run open at the last sync, at most `lookback` behind the newest;
    while a backfill is pending, only what arrived on top (the backfill reads the rest,
    and the open runs are re-read once it is done)."""
    if cursor.backfill is not None and cursor.newest is not None:
        return WindowPlan(cursor.newest)
    if cursor.newest is None:
        return WindowPlan(initial_date)
    start = min(cursor.newest, cursor.oldest_open) if cursor.oldest_open else cursor.newest
    floor = cursor.newest - lookback
    cut_from = None
    if start < floor:
        cut_from, start = start, floor
    return WindowPlan(max(start, initial_date) if initial_date else start, cut_from)


class ContactsProgress:
    """Folds one sync's contact runs into the next cursor. During a backfill the oldest open
    run is the oldest of every load's since it began: all are re-read when it is done."""

    def __init__(self, before: ContactsCursor, order: Order) -> None:
        self.after = ContactsCursor(before.newest, before.oldest_open if before.backfill else None,
                                    order)
        self._newest: datetime | None = None

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            ts = row["created_on"]
            if self._newest is None or ts > self._newest:
                self._newest = ts
            if row.get("status") in CONTACT_OPEN and (
                    self.after.oldest_open is None or ts < self.after.oldest_open):
                self.after.oldest_open = ts

    def finish(self, backfill: Backfill | None = None) -> ContactsCursor:
        self.after.newest = _later(self.after.newest, self._newest)  # never back
        self.after.backfill = backfill
        return self.after


@dataclass
class ExecutionsCursor:
    """`flow_executions`' memory between syncs."""

    newest: datetime | None = None
    open: dict[str, datetime] = field(default_factory=dict)
    page_len: int | None = None  # rows on the list's first page, once seen
    oldest_open_position: int = 0  # the oldest open execution's place in the list
    order: Order = field(default_factory=Order)
    backfill: Backfill | None = None

    @classmethod
    def from_state(cls, raw: dict | None) -> ExecutionsCursor:
        raw = raw or {}
        return cls(parse_timestamp(raw.get("newest")),
                   unpack_times(raw.get("open")),
                   raw.get("page_len") or None, int(raw.get("oldest_open_position") or 0),
                   Order(bool(raw.get("order_verified")), bool(raw.get("unordered"))),
                   Backfill.from_state(raw.get("backfill")))

    def to_state(self) -> dict:
        return {"newest": _iso(self.newest),
                "open": pack_times(self.open),
                "page_len": self.page_len, "oldest_open_position": self.oldest_open_position,
                "order_verified": self.order.verified, "unordered": self.order.unordered,
                "backfill": self.backfill.to_state() if self.backfill else None}


def plan_executions(cursor: ExecutionsCursor, lookback: timedelta,
                    initial_date: datetime | None) -> WindowPlan:
    """Open executions come up to date the cheaper way: re-reading the list down to the
    oldest of them (fixed pages of ~20), or one detail request each, chosen from where
    the oldest open one stood in the list last time. While a backfill is pending, only
    what arrived on top: the open ones are refreshed once it is done."""
    if cursor.backfill is not None and cursor.newest is not None:
        return WindowPlan(cursor.newest)
    start = cursor.newest
    floor = cursor.newest - lookback if cursor.newest else None
    live = {k: ts for k, ts in cursor.open.items() if floor is None or ts >= floor}
    if live and cursor.newest:
        page_len = cursor.page_len or DEFAULT_EXECUTIONS_PAGE
        pages_for_window = -(-(cursor.oldest_open_position + 1) // page_len)
        if pages_for_window - 1 <= len(live):
            start = min(live.values())
    if initial_date and (start is None or start < initial_date):
        start = initial_date
    return WindowPlan(start, refresh=live, dropped=len(cursor.open) - len(live))


class ExecutionsProgress:
    """Folds one sync's flow executions into the next cursor."""

    def __init__(self, before: ExecutionsCursor, order: Order) -> None:
        self.after = ExecutionsCursor(before.newest, {}, before.page_len, 0, order)
        self.seen: set[str] = set()
        self._newest: datetime | None = None
        self._position = 0
        self._refreshed = 0

    def listed(self, rows: list[dict]) -> None:
        if rows and self.after.page_len is None:
            self.after.page_len = len(rows)
        for row in rows:
            self.seen.add(row["id"])
            ts = row["created_on"]
            if self._newest is None or ts > self._newest:
                self._newest = ts
            if row.get("status") not in EXECUTION_FINAL:
                self.after.open[row["id"]] = ts
                self.after.oldest_open_position = self._position
            self._position += 1

    def refreshed(self, rows: list[dict]) -> None:
        for row in rows:
            if row.get("status") not in EXECUTION_FINAL:
                self.after.open[row["id"]] = row["created_on"]
                # below what was read; its exact place is unknown, at least this far down
                self.after.oldest_open_position = max(self.after.oldest_open_position,
                                                      self._position + self._refreshed)
            self._refreshed += 1

    def finish(self, backfill: Backfill | None = None,
               still_open: dict[str, datetime] | None = None) -> ExecutionsCursor:
        """The next cursor; `still_open`: open executions not refreshed this sync, kept."""
        self.after.newest = _later(self.after.newest, self._newest)  # never back
        self.after.backfill = backfill
        for key, ts in (still_open or {}).items():
            if key not in self.seen:
                self.after.open.setdefault(key, ts)
        return self.after
