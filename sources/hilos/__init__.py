"""dlt source for Hilos: flow executions and flow-execution contacts.

Both resources are merged on `id` and read newest-first down to a re-read window that
catches runs changing after they were loaded (`cursor.py` plans it; the cursors live in
each resource's state, saved with the load). Open flow executions that fall below the
window are refreshed one by one through the detail endpoint. A long read (a first load)
pauses at each checkpoint and goes on next load from where it was, below what arrived
on top meanwhile (`cursor.Backfill`).

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
from ..batches import Batches
from ..checkpoint import NEVER, Checkpoint
from ..errors import ConfigError
from ..http import HttpClient
from ..privacy import Privacy, Scrub
from ..records import (
    MERGE_DEDUPLICATED,  # each id once per load: OncePerLoad sees to it
    OncePerLoad,
    Quarantine,
    check_records,
    parse_timestamp,
    quarantined,
)
from .client import HilosClient, make_http
from .cursor import (
    ContactsCursor,
    ContactsProgress,
    ExecutionsCursor,
    ExecutionsProgress,
    plan_contacts,
    plan_executions,
)
from .reading import Sync
from .settings import (
    CONTACT_AS_JSON,
    CONTACT_COLUMNS,
    CONTACT_STATUSES,
    DEFAULT_BASE_URL,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE,
    EXECUTION_COLUMNS,
    EXECUTION_STATUSES,
)
from .spec import CONTACT_RUN, EXECUTION, SOURCE

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
    checkpoint: Checkpoint | None = None,
    privacy: Privacy | None = None,
) -> Any:
    """Hilos flow executions and flow-execution contacts.

    Args:
        api_token: the Hilos API token (secret).
        base_url: the API's root.
        page_size: rows per contacts page (the executions list has a fixed size).
        lookback_days: how far behind the newest run a still-open run is re-read.
        initial_date: ISO 8601; runs created before it are not loaded. Default: all.
        http: a ready client (tests); default one built from the arguments.
        checkpoint: when to pause a long read so the load commits (the runner loads again
            and the read goes on from its state); default: read everything in one load.
        privacy: what is stored of contact addresses (`sources.privacy`); default keep.
    """
    if not api_token:
        raise ConfigError("Hilos is not configured: set sources.hilos.api_token "
                         "(SOURCES__HILOS__API_TOKEN)")
    SOURCE.checked(page_size=page_size, lookback_days=lookback_days, initial_date=initial_date)
    start = parse_timestamp(initial_date) if initial_date else None
    client = HilosClient(http or make_http(api_token, base_url))
    lookback = timedelta(days=lookback_days)
    checkpoint = checkpoint or NEVER
    return (
        flow_executions(client, lookback, start, checkpoint,
                        (privacy or Privacy()).scrubber(EXECUTION)),
        flow_execution_contacts(client, lookback, page_size, start, checkpoint,
                                (privacy or Privacy()).scrubber(CONTACT_RUN)),
    )


@dlt.resource(name="flow_execution_contacts", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=CONTACT_COLUMNS)
def flow_execution_contacts(client: HilosClient, lookback: timedelta, page_size: int,
                            initial_date: datetime | None, checkpoint: Checkpoint,
                            scrub: Scrub = None) -> Iterator[Any]:
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
    progress = ContactsProgress(before, before.order)
    quarantine = Quarantine("Hilos", "flow_execution_contacts")
    reads = Sync(lambda first: client.contact_pages(page_size, first), before, plan.start,
                 CONTACT_STATUSES, quarantine, checkpoint, "flow-execution-contact",
                 as_json=CONTACT_AS_JSON, scrub=scrub)
    once = OncePerLoad("id", "Hilos flow-execution-contact")
    batches = Batches()
    for rows, bad in reads.pages():
        rows = once(rows)
        progress.add(rows)
        if rows:
            yield from batches.add(to_arrow(rows, CONTACT_TYPES, "Hilos flow_execution_contacts",
                                            REQUIRED, "flow_execution_contacts"))
        if bad:
            yield quarantined(bad)
    yield from batches.flush()
    state.update(progress.finish(reads.cut).to_state())
    _record_failure(state, reads)
    quarantine.report()
    once.report()
    if reads.duplicates:
        log.info("Hilos flow-execution-contact: %d row(s) repeated across pages (new runs "
                 "arrived while paging); loaded once", reads.duplicates)


FINISHED = "hilos flow_executions"  # in `Checkpoint.finished`: read to its end this run


@dlt.resource(name="flow_executions", primary_key="id", write_disposition=MERGE_DEDUPLICATED,
              columns=EXECUTION_COLUMNS)
def flow_executions(client: HilosClient, lookback: timedelta, initial_date: datetime | None,
                    checkpoint: Checkpoint, scrub: Scrub = None) -> Iterator[Any]:
    """One row per flow execution (a batch run of a flow), at its latest state. Read to
    its end once per run: a run's later checkpoint loads (the contacts' backfill going on)
    leave it as it is; what changes meanwhile waits for the next run."""
    if FINISHED in checkpoint.finished:
        return
    state = dlt.current.resource_state()
    before = ExecutionsCursor.from_state(state)
    plan = plan_executions(before, lookback, initial_date)
    if plan.dropped:
        log.warning("Hilos: %d flow execution(s) still open after lookback_days; no longer "
                    "refreshed", plan.dropped)
    progress = ExecutionsProgress(before, before.order)
    quarantine = Quarantine("Hilos", "flow_executions")
    reads = Sync(client.execution_pages, before, plan.start, EXECUTION_STATUSES, quarantine,
                 checkpoint, "flow-execution", scrub=scrub)
    once = OncePerLoad("id", "Hilos flow-execution")
    batches = Batches()
    for rows, bad in reads.pages():
        rows = once(rows)
        progress.listed(rows)
        if rows:
            yield from batches.add(to_arrow(rows, EXECUTION_TYPES, "Hilos flow_executions",
                                            REQUIRED, "flow_executions"))
        if bad:
            yield quarantined(bad)
    yield from batches.flush()
    if reads.cut is not None or before.backfill is not None:
        # mid-backfill: the open ones are refreshed once the whole list has been read
        state.update(progress.finish(reads.cut, {**before.open, **plan.refresh}).to_state())
        _record_failure(state, reads)
        quarantine.report()
        if reads.cut is None:  # the backfill is done: the next run refreshes the open ones
            checkpoint.finished.add(FINISHED)
        return
    refreshed = []
    for exec_id in plan.refresh.keys() - progress.seen:
        detail = client.execution_detail(exec_id)
        if detail is None:
            log.info("Hilos flow-execution %s is gone (404); no longer refreshed", exec_id)
            continue
        rows, bad = check_records([detail], quarantine, key="id", cursor="created_on",
                                  statuses=EXECUTION_STATUSES, scrub=scrub)
        progress.refreshed(rows)
        refreshed.extend(rows)
        if bad:
            yield quarantined(bad)
    refreshed = once(refreshed)
    once.report()
    if refreshed:
        yield to_arrow(refreshed, EXECUTION_TYPES, "Hilos flow_executions", REQUIRED,
                       "flow_executions")
    state.update(progress.finish().to_state())
    _record_failure(state, reads)
    quarantine.report()
    checkpoint.finished.add(FINISHED)


def _record_failure(state: dict, reads: Sync) -> None:
    """A listing that stopped for good: what was read loads, the rest waits for the next
    run (the cursor says where), and the run reports it (exit 1)."""
    state["failures"] = [reads.failure] if reads.failure else []
    if reads.failure:
        log.error("%s; what was read is loaded, the rest is read next run", reads.failure)
