"""dlt source for Hilos: flow executions and flow-execution contacts.

Both resources are incremental on `created_on` and merged on `id`. The API has no date
filter, and runs change after they are created (READY/RUNNING contacts finish; batches
move their counters), so each sync re-reads a window: newest-first pages down to the
oldest run still open at the last sync, never further back than `lookback_days` before
the newest run seen. The cursor (`newest`, `oldest_open`) lives in the resource's state,
saved with the load; merge keeps one row per id at its latest state. Open flow
executions that fall below the window are refreshed one by one through the detail
endpoint.

Rows are yielded as Arrow tables (see `sources.arrow`), the rejects as dicts to the
`quarantine` table. dlt's own `incremental` is not used: its filter would pass every row
of the window anyway, and dlt 1.31 fails when one incremental resource yields both Arrow
tables and dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dlt
import httpx

from ..arrow import arrow_types, to_arrow
from ..http import HttpClient
from ..prefetch import prefetch
from ..records import (
    MERGE_DEDUPLICATED,  # a sync yields each id once: `Window` drops repeats
    QUARANTINE_HINTS,
    Quarantine,
    check_records,
    parse_timestamp,
)
from .client import HilosClient, Window
from .settings import (
    CONTACT_COLUMNS,
    CONTACT_OPEN,
    CONTACT_STATUSES,
    DEFAULT_BASE_URL,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE,
    EXECUTION_COLUMNS,
    EXECUTION_FINAL,
    EXECUTION_STATUSES,
)

log = logging.getLogger("flowsync.hilos")

CONTACT_TYPES = arrow_types(CONTACT_COLUMNS)
EXECUTION_TYPES = arrow_types(EXECUTION_COLUMNS)
REQUIRED = ("id", "created_on")  # in every row that passed check_records


def make_http(api_token: str, base_url: str, transport: httpx.BaseTransport | None = None,
              **options: Any) -> HttpClient:
    """The HTTP client for Hilos: `Authorization: Token <api_token>`."""
    return HttpClient(base_url, service="Hilos",
                      auth_hint="sources.hilos.api_token (SOURCES__HILOS__API_TOKEN)",
                      headers={"Authorization": f"Token {api_token}"}, transport=transport,
                      **options)


@dlt.source(name="hilos")
def hilos_source(
    api_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    initial_date: str | None = None,
    http: HttpClient | None = None,
) -> Any:
    """Hilos flow executions and flow-execution contacts.

    Args:
        api_token: the Hilos API token (secret).
        base_url: the API's root.
        page_size: rows per contacts page (the executions list has a fixed size).
        lookback_days: how far behind the newest run a still-open run is re-read.
        initial_date: ISO 8601; runs created before it are not loaded. Default: all.
        http: a ready client (tests); default one built from the arguments.
    """
    if not api_token:
        raise ValueError("Hilos is not configured: set sources.hilos.api_token "
                         "(SOURCES__HILOS__API_TOKEN)")
    if page_size < 1:
        raise ValueError(f"sources.hilos.page_size must be at least 1, not {page_size}")
    if lookback_days < 0:
        raise ValueError(f"sources.hilos.lookback_days must not be negative, not {lookback_days}")
    start = None
    if initial_date:
        start = parse_timestamp(initial_date)
        if start is None:
            raise ValueError(f"sources.hilos.initial_date is not an ISO 8601 date: {initial_date!r}")
    client = HilosClient(http or make_http(api_token, base_url))
    lookback = timedelta(days=lookback_days)
    return (
        flow_executions(client, lookback, start),
        flow_execution_contacts(client, lookback, page_size, start),
    )


def _window_start(state: dict, lookback: timedelta, initial_date: datetime | None
                  ) -> datetime | None:
    """The oldest created_on this sync must re-read; `initial_date` on the first sync."""
    newest = parse_timestamp(state.get("newest"))
    if newest is None:
        return initial_date
    oldest_open = parse_timestamp(state.get("oldest_open"))
    start = min(newest, oldest_open) if oldest_open else newest
    floor = newest - lookback
    if start < floor:
        log.warning("Hilos: runs open since %s are older than lookback_days; only runs "
                    "since %s are re-read", start.isoformat(), floor.isoformat())
        start = floor
    return max(start, initial_date) if initial_date else start


def _read(client: HilosClient, pages: Iterator[list[dict]], window: Window,
          statuses: frozenset[str], quarantine: Quarantine) -> Iterator[tuple[list, list]]:
    """(rows, quarantine entries) per page, down to the window's start."""
    read_all = True
    for raw in pages:
        rows, bad = check_records(raw, quarantine, key="id", cursor="created_on",
                                  statuses=statuses)
        rows, done = window.pass_page(rows, getattr(raw, "count", None))
        yield rows, bad
        if done:
            read_all = False
            break
    window.finish(read_all)


def _advance_newest(state: dict, newest: datetime | None) -> None:
    """Moves the resource's cursor forward, never back."""
    if newest is not None:
        old = parse_timestamp(state.get("newest"))
        state["newest"] = max(newest, old).isoformat() if old else newest.isoformat()


@dlt.resource(name="flow_execution_contacts", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=CONTACT_COLUMNS)
def flow_execution_contacts(client: HilosClient, lookback: timedelta, page_size: int,
                            initial_date: datetime | None) -> Iterator[Any]:
    """One row per contact run of a flow, at its latest status."""
    state = dlt.current.resource_state()
    window = Window(_window_start(state, lookback, initial_date), state,
                    "flow-execution-contact")
    if state.get("unordered"):
        log.warning("Hilos flow-execution-contact: rows were not newest-first last time; "
                    "reading every page")
    quarantine = Quarantine("Hilos", "flow_execution_contacts")
    newest = oldest_open = None
    for rows, bad in prefetch(_read(client, client.contact_pages(page_size), window,
                                    CONTACT_STATUSES, quarantine)):
        for row in rows:
            ts = row["created_on"]
            newest = ts if newest is None or ts > newest else newest
            if row.get("status") in CONTACT_OPEN and (oldest_open is None or ts < oldest_open):
                oldest_open = ts
        if rows:
            yield to_arrow(rows, CONTACT_TYPES, "Hilos flow_execution_contacts", REQUIRED)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    _advance_newest(state, newest)
    state["oldest_open"] = oldest_open.isoformat() if oldest_open else None
    quarantine.report()
    if window.duplicates:
        log.info("Hilos flow-execution-contact: %d row(s) repeated across pages (new runs "
                 "arrived while paging); loaded once", window.duplicates)


@dlt.resource(name="flow_executions", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=EXECUTION_COLUMNS)
def flow_executions(client: HilosClient, lookback: timedelta,
                    initial_date: datetime | None) -> Iterator[Any]:
    """One row per flow execution (a batch run of a flow), at its latest state.

    Executions still open at the last sync are brought up to date the cheaper way: by
    re-reading the list down to the oldest of them (the list has fixed pages of ~20), or
    through the detail endpoint, one request each. The choice uses where the oldest open
    execution stood in the list last time.
    """
    state = dlt.current.resource_state()
    newest_before = parse_timestamp(state.get("newest"))
    open_before: dict[str, str] = dict(state.get("open") or {})
    start = newest_before
    floor = newest_before - lookback if newest_before else None
    live = {k: v for k, v in open_before.items()
            if not floor or (parse_timestamp(v) or floor) >= floor}
    if len(live) < len(open_before):
        log.warning("Hilos: %d flow execution(s) still open after lookback_days; no longer "
                    "refreshed", len(open_before) - len(live))
    if live and newest_before:
        oldest_open = min(parse_timestamp(v) for v in live.values())
        page_len = state.get("page_len") or 20
        pages_for_window = -(-(state.get("oldest_open_position", 0) + 1) // page_len)
        if pages_for_window - 1 <= len(live):
            start = oldest_open
    if initial_date and (start is None or start < initial_date):
        start = initial_date
    window = Window(start, state, "flow-execution")
    quarantine = Quarantine("Hilos", "flow_executions")
    still_open: dict[str, str] = {}
    seen: set[str] = set()
    newest = None
    position = oldest_open_position = 0
    for rows, bad in prefetch(_read(client, client.execution_pages(), window,
                                    EXECUTION_STATUSES, quarantine)):
        if rows and "page_len" not in state:
            state["page_len"] = len(rows)
        for row in rows:
            seen.add(row["id"])
            ts = row["created_on"]
            newest = ts if newest is None or ts > newest else newest
            if row.get("status") not in EXECUTION_FINAL:
                still_open[row["id"]] = ts.isoformat()
                oldest_open_position = position
            position += 1
        if rows:
            yield to_arrow(rows, EXECUTION_TYPES, "Hilos flow_executions", REQUIRED)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    refreshed = []
    for exec_id in live.keys() - seen:
        detail = client.execution_detail(exec_id)
        if detail is None:
            log.info("Hilos flow-execution %s is gone (404); no longer refreshed", exec_id)
            continue
        rows, bad = check_records([detail], quarantine, key="id", cursor="created_on",
                                  statuses=EXECUTION_STATUSES)
        for row in rows:
            if row.get("status") not in EXECUTION_FINAL:
                still_open[row["id"]] = row["created_on"].isoformat()
                # below what was read; its exact place is unknown, at least this far down
                oldest_open_position = max(oldest_open_position, position + len(refreshed))
        refreshed.extend(rows)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    if refreshed:
        yield to_arrow(refreshed, EXECUTION_TYPES, "Hilos flow_executions", REQUIRED)
    _advance_newest(state, newest)
    state["open"] = still_open
    state["oldest_open_position"] = oldest_open_position
    quarantine.report()
