"""Hilos paging, record checks and the re-read window, as plain generators.

The API lists rows with page numbers, no date filter and no documented order. A sync
reads pages from the first (newest, when the API is newest-first) down to a window start
and stops there; it checks the order it receives on every page, and when rows are not
newest-first it reads every page instead (and says so once).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..http import HttpClient, NotFoundError
from .settings import CONTACTS_PATH, DETAIL_ONLY_FIELDS, EXECUTIONS_PATH

log = logging.getLogger("flowsync.hilos")


class Page(list):
    """One page's rows, with the list's total `count` at the time (None if not given)."""

    def __init__(self, rows: list, count: int | None) -> None:
        super().__init__(rows)
        self.count = count


class HilosClient:
    """Reads Hilos list pages and flow-execution details through an `HttpClient`."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict]]:
        """Pages of `results`, page 1 first, until `next` is null.

        Page numbers are ours rather than the `next` links', so a link naming another
        scheme or host (a proxy's) never receives the token.
        """
        page = 1
        while True:
            query = dict(params or {})
            if page > 1:
                query["page"] = page
            try:
                body = self.http.get_json(path, query, endpoint=path)
            except NotFoundError:
                if page == 1:
                    raise
                # the list shrank between two pages: drf answers "Invalid page."
                log.info("Hilos %s: page %d is gone; the list ended early", path, page)
                return
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise ValueError(f"Hilos {path} page {page}: expected a page with `results`, "
                                 f"got {type(body).__name__}")
            count = body.get("count")
            yield Page(body["results"], count if isinstance(count, int) else None)
            if not body.get("next"):
                return
            page += 1

    def contact_pages(self, page_size: int) -> Iterator[list[dict]]:
        return self.pages(CONTACTS_PATH, {"page_size": page_size})

    def execution_pages(self) -> Iterator[list[dict]]:
        return self.pages(EXECUTIONS_PATH)

    def execution_detail(self, execution_id: str) -> dict | None:
        """A flow execution from the detail endpoint, in the list's shape; None if gone."""
        path = f"{EXECUTIONS_PATH}/{execution_id}"
        try:
            detail = self.http.get_json(path, endpoint=f"{EXECUTIONS_PATH}/{{id}}")
        except NotFoundError:
            return None
        return detail_as_list_row(detail)


def detail_as_list_row(detail: dict) -> dict:
    """Maps a detail response onto the list's row shape, so a refreshed row looks the same.

    The detail nests `flow_version` and `status_triggered_by` as objects where the list
    has their ids, and adds fields the list does not have.
    """
    row = {k: v for k, v in detail.items() if k not in DETAIL_ONLY_FIELDS}
    if isinstance(row.get("flow_version"), dict):
        row["flow_version"] = row["flow_version"].get("id")
    if isinstance(row.get("status_triggered_by"), dict):
        row["status_triggered_by"] = row["status_triggered_by"].get("id")
    return row


class Window:
    """How far back a sync reads, and what the order of the pages allows.

    Args:
        start: the oldest created_on this sync must see; None reads everything.
        state: the resource's state; keeps `order_verified` and `unordered` across runs.
        what: the list's name in messages.
    """

    def __init__(self, start: datetime | None, state: dict, what: str) -> None:
        self.start = start
        self.state = state
        self.what = what
        self.read_all = False
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
                    self.state["order_verified"] = True
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
            self.state["unordered"] = self.violation

    def _may_stop(self) -> bool:
        return (not self.violation and not self.state.get("unordered")
                and bool(self.state.get("order_verified")))

    def _note_violation(self) -> None:
        if not self.violation:
            self.violation = True
            if not self.state.get("unordered"):
                log.warning("Hilos %s: rows are not newest-first; reading every page instead "
                            "of stopping early", self.what)
            self.state["unordered"] = True
