"""Reading a newest-first list down to a point: the order it relies on, the rows it keeps.

The API lists rows with page numbers, no date filter and no documented order. A sync
reads pages from the first (newest, when the API is newest-first) down to a window start
and stops there; it checks the order it receives on every page, and when rows are not
newest-first it reads every page instead (and says so once).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger("flowsync.hilos")


@dataclass
class Order:
    """What syncs learned about a list's order: stopping early needs it newest-first."""

    verified: bool = False
    unordered: bool = False


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

    def may_cut(self) -> bool:
        """Whether the read may pause here and go on later from a page number: only on a
        list known to be newest-first."""
        return self._may_stop()

    def _note_violation(self) -> None:
        if not self.violation:
            self.violation = True
            if not self.order.unordered:
                log.warning("Hilos %s: rows are not newest-first; reading every page instead "
                            "of stopping early", self.what)
            self.order.unordered = True
