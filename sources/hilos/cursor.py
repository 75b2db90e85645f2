"""What a Hilos sync remembers, and how far back the next one reads: pure code.

The API has no date filter, and runs change after they are created (READY/RUNNING
contacts finish; batches move their counters), so each sync re-reads a window: newest-first
pages down to the oldest run still open at the last sync, never further back than
`lookback_days` before the newest run seen. `ContactsCursor` and `ExecutionsCursor` are
that memory (saved in the resource's state with the load), their `plan` the next window,
and `Window` applies it to the pages as they come, checking the order it relies on.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..records import parse_timestamp
from .settings import CONTACT_OPEN, EXECUTION_FINAL

log = logging.getLogger("flowsync.hilos")

DEFAULT_EXECUTIONS_PAGE = 20  # the executions list's fixed page size, until one is seen


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a and b else a or b


@dataclass
class Order:
    """What syncs learned about a list's order: stopping early needs it newest-first."""

    verified: bool = False
    unordered: bool = False


@dataclass
class ContactsCursor:
    """`flow_execution_contacts`' memory between syncs."""

    newest: datetime | None = None
    oldest_open: datetime | None = None
    order: Order = field(default_factory=Order)

    @classmethod
    def from_state(cls, raw: dict | None) -> ContactsCursor:
        raw = raw or {}
        return cls(parse_timestamp(raw.get("newest")), parse_timestamp(raw.get("oldest_open")),
                   Order(bool(raw.get("order_verified")), bool(raw.get("unordered"))))

    def to_state(self) -> dict:
        return {"newest": _iso(self.newest), "oldest_open": _iso(self.oldest_open),
                "order_verified": self.order.verified, "unordered": self.order.unordered}


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
    """Down to the oldest run open at the last sync, at most `lookback` behind the newest."""
    if cursor.newest is None:
        return WindowPlan(initial_date)
    start = min(cursor.newest, cursor.oldest_open) if cursor.oldest_open else cursor.newest
    floor = cursor.newest - lookback
    cut_from = None
    if start < floor:
        cut_from, start = start, floor
    return WindowPlan(max(start, initial_date) if initial_date else start, cut_from)


class ContactsProgress:
    """Folds one sync's contact runs into the next cursor."""

    def __init__(self, before: ContactsCursor, order: Order) -> None:
        self.after = ContactsCursor(before.newest, None, order)
        self._newest: datetime | None = None

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            ts = row["created_on"]
            if self._newest is None or ts > self._newest:
                self._newest = ts
            if row.get("status") in CONTACT_OPEN and (
                    self.after.oldest_open is None or ts < self.after.oldest_open):
                self.after.oldest_open = ts

    def finish(self) -> ContactsCursor:
        self.after.newest = _later(self.after.newest, self._newest)  # never back
        return self.after


@dataclass
class ExecutionsCursor:
    """`flow_executions`' memory between syncs."""

    newest: datetime | None = None
    open: dict[str, datetime] = field(default_factory=dict)
    page_len: int | None = None  # rows on the list's first page, once seen
    oldest_open_position: int = 0  # the oldest open execution's place in the list
    order: Order = field(default_factory=Order)

    @classmethod
    def from_state(cls, raw: dict | None) -> ExecutionsCursor:
        raw = raw or {}
        return cls(parse_timestamp(raw.get("newest")),
                   {k: ts for k, v in (raw.get("open") or {}).items()
                    if (ts := parse_timestamp(v)) is not None},
                   raw.get("page_len") or None, int(raw.get("oldest_open_position") or 0),
                   Order(bool(raw.get("order_verified")), bool(raw.get("unordered"))))

    def to_state(self) -> dict:
        return {"newest": _iso(self.newest),
                "open": {k: ts.isoformat() for k, ts in self.open.items()},
                "page_len": self.page_len, "oldest_open_position": self.oldest_open_position,
                "order_verified": self.order.verified, "unordered": self.order.unordered}


def plan_executions(cursor: ExecutionsCursor, lookback: timedelta,
                    initial_date: datetime | None) -> WindowPlan:
    """Open executions come up to date the cheaper way: re-reading the list down to the
    oldest of them (fixed pages of ~20), or one detail request each, chosen from where
    the oldest open one stood in the list last time."""
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

    def finish(self) -> ExecutionsCursor:
        self.after.newest = _later(self.after.newest, self._newest)  # never back
        return self.after


class Window:
    """Applies a window's start to the pages, and checks the order it relies on.

    Args:
        start: the oldest created_on this sync must see; None reads everything.
        order: what earlier syncs learned of the order; updated in place.
        what: the list's name in messages.
    """

    def __init__(self, start: datetime | None, order: Order, what: str) -> None:
        self.start = start
        self.order = order
        self.what = what
        self.violation = False
        self._prev: datetime | None = None
        self._top: datetime | None = None  # the newest run on the first page
        self._recent: deque[str] = deque()
        self._recent_ids: set[str] = set()
        self._min_count: int | None = None
        self._growth = 0
        self._page_len = 0
        self.duplicates = 0

    def pass_page(self, rows: list[dict], count: int | None = None) -> tuple[list[dict], bool]:
        """Checks one page of parsed rows; returns the rows to keep and whether to stop.

        A row is kept once per sync. Runs arriving on top while the sync pages push rows
        already read onto later pages; a row read before can come back only after sliding
        by at most the list's growth since (`count`, the list's total, says how much), so
        remembering the ids of the last two pages plus that growth drops every repeat
        while memory stays bounded. (Runs deleted meanwhile would hide as many arrivals
        from `count`; Hilos runs are not deleted.)
        """
        if count is not None:
            self._min_count = count if self._min_count is None else min(self._min_count, count)
            self._growth = max(self._growth, count - self._min_count)
        for row in rows:
            ts = row["created_on"]
            if self._growth and self._top is not None and ts > self._top:
                continue  # arrived while paging (the list grew): says nothing of the order
            if self._prev is not None:
                if ts > self._prev:
                    self._note_violation()
                elif ts < self._prev:
                    self.order.verified = True
            self._prev = ts
        if self._top is None and rows:
            self._top = max(r["created_on"] for r in rows)
        fresh = []
        for row in rows:
            if row["id"] in self._recent_ids:
                self.duplicates += 1
                continue
            self._recent_ids.add(row["id"])
            self._recent.append(row["id"])
            fresh.append(row)
        self._page_len = max(self._page_len, len(rows))
        while len(self._recent) > 2 * self._page_len + self._growth:
            self._recent_ids.discard(self._recent.popleft())
        if self.start is None:
            return fresh, False
        keep = [r for r in fresh if r["created_on"] >= self.start]
        done = self._may_stop() and bool(rows) and rows[-1]["created_on"] < self.start
        return keep, done

    def finish(self, read_all: bool) -> None:
        """Records what this sync learned about the order."""
        if read_all:
            # a full read saw every page: its verdict replaces the old one
            self.order.unordered = self.violation

    def _may_stop(self) -> bool:
        return not self.violation and not self.order.unordered and self.order.verified

    def _note_violation(self) -> None:
        if not self.violation:
            self.violation = True
            if not self.order.unordered:
                log.warning("Hilos %s: rows are not newest-first; reading every page instead "
                            "of stopping early", self.what)
            self.order.unordered = True
