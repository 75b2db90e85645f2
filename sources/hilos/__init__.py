"""dlt source for Hilos: flow executions and flow-execution contacts.

Both resources are merged on `id` and read newest-first down to a re-read window that
catches runs changing after they were loaded (`cursor.py` plans it; the cursors live in
each resource's state, saved with the load). Open flow executions that fall below the
window are refreshed one by one through the detail endpoint.

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

from ..arrow import arrow_types, to_arrow
from ..errors import ConfigError
from ..fanin import prefetch
from ..http import HttpClient
from ..records import (
    MERGE_DEDUPLICATED,  # a sync yields each id once: `Window` drops repeats
    QUARANTINE_HINTS,
    Quarantine,
    check_records,
    parse_timestamp,
)
from .client import HilosClient, make_http
from .cursor import (
    ContactsCursor,
    ContactsProgress,
    ExecutionsCursor,
    ExecutionsProgress,
    Window,
    plan_contacts,
    plan_executions,
)
from .settings import (
    CONTACT_COLUMNS,
    CONTACT_STATUSES,
    DEFAULT_BASE_URL,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE,
    EXECUTION_COLUMNS,
    EXECUTION_STATUSES,
)

log = logging.getLogger("flowsync.hilos")

CONTACT_TYPES = arrow_types(CONTACT_COLUMNS)
EXECUTION_TYPES = arrow_types(EXECUTION_COLUMNS)
REQUIRED = ("id", "created_on")  # in every row that passed check_records

__all__ = ["hilos_source", "make_http"]


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
        raise ConfigError("Hilos is not configured: set sources.hilos.api_token "
                         "(SOURCES__HILOS__API_TOKEN)")
    if page_size < 1:
        raise ConfigError(f"sources.hilos.page_size must be at least 1, not {page_size}")
    if lookback_days < 0:
        raise ConfigError(f"sources.hilos.lookback_days must not be negative, not {lookback_days}")
    start = None
    if initial_date:
        start = parse_timestamp(initial_date)
        if start is None:
            raise ConfigError(f"sources.hilos.initial_date is not an ISO 8601 date: {initial_date!r}")
    client = HilosClient(http or make_http(api_token, base_url))
    lookback = timedelta(days=lookback_days)
    return (
        flow_executions(client, lookback, start),
        flow_execution_contacts(client, lookback, page_size, start),
    )


def _read(pages: Iterator[list[dict]], window: Window, statuses: frozenset[str],
          quarantine: Quarantine) -> Iterator[tuple[list, list]]:
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


@dlt.resource(name="flow_execution_contacts", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=CONTACT_COLUMNS)
def flow_execution_contacts(client: HilosClient, lookback: timedelta, page_size: int,
                            initial_date: datetime | None) -> Iterator[Any]:
    """One row per contact run of a flow, at its latest status."""
    state = dlt.current.resource_state()
    before = ContactsCursor.from_state(state)
    plan = plan_contacts(before, lookback, initial_date)
    if plan.cut_from:
        log.warning("Hilos: runs open since %s are older than lookback_days; only runs "
                    "since %s are re-read", plan.cut_from.isoformat(), plan.start.isoformat())
    if before.order.unordered:
        log.warning("Hilos flow-execution-contact: rows were not newest-first last time; "
                    "reading every page")
    window = Window(plan.start, before.order, "flow-execution-contact")
    progress = ContactsProgress(before, window.order)
    quarantine = Quarantine("Hilos", "flow_execution_contacts")
    for rows, bad in prefetch(_read(client.contact_pages(page_size), window, CONTACT_STATUSES,
                                    quarantine)):
        progress.add(rows)
        if rows:
            yield to_arrow(rows, CONTACT_TYPES, "Hilos flow_execution_contacts", REQUIRED)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    state.update(progress.finish().to_state())
    quarantine.report()
    if window.duplicates:
        log.info("Hilos flow-execution-contact: %d row(s) repeated across pages (new runs "
                 "arrived while paging); loaded once", window.duplicates)


@dlt.resource(name="flow_executions", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=EXECUTION_COLUMNS)
def flow_executions(client: HilosClient, lookback: timedelta,
                    initial_date: datetime | None) -> Iterator[Any]:
    """One row per flow execution (a batch run of a flow), at its latest state."""
    state = dlt.current.resource_state()
    before = ExecutionsCursor.from_state(state)
    plan = plan_executions(before, lookback, initial_date)
    if plan.dropped:
        log.warning("Hilos: %d flow execution(s) still open after lookback_days; no longer "
                    "refreshed", plan.dropped)
    window = Window(plan.start, before.order, "flow-execution")
    progress = ExecutionsProgress(before, window.order)
    quarantine = Quarantine("Hilos", "flow_executions")
    for rows, bad in prefetch(_read(client.execution_pages(), window, EXECUTION_STATUSES,
                                    quarantine)):
        progress.listed(rows)
        if rows:
            yield to_arrow(rows, EXECUTION_TYPES, "Hilos flow_executions", REQUIRED)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    refreshed = []
    for exec_id in plan.refresh.keys() - progress.seen:
        detail = client.execution_detail(exec_id)
        if detail is None:
            log.info("Hilos flow-execution %s is gone (404); no longer refreshed", exec_id)
            continue
        rows, bad = check_records([detail], quarantine, key="id", cursor="created_on",
                                  statuses=EXECUTION_STATUSES)
        progress.refreshed(rows)
        refreshed.extend(rows)
        if bad:
            yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    if refreshed:
        yield to_arrow(refreshed, EXECUTION_TYPES, "Hilos flow_executions", REQUIRED)
    state.update(progress.finish().to_state())
    quarantine.report()
