"""dlt source for Twilio Studio: flows, executions and their steps.

`executions` keeps one cursor per flow in the resource's state (`cursor.FlowCursor`):
flows are read concurrently, and one cursor for all of them would let a fast flow's
newest execution hide a slower flow's. Each flow's cursor moves only with that flow's
rows, and the state is saved with the load, so a failed sync leaves every cursor where it
was. Steps are fetched once per execution, in the sync that first sees it ended (steps no
longer change then), concurrently, and go to table `execution_steps`. Executions and
steps are yielded as Arrow tables (`sources.arrow`); flows, a handful of rows with a
nested `definition`, as dicts.

A flow whose listing fails for good (after retries) keeps its old cursor, so the next
sync reads it again; a steps fetch that fails is kept in state as pending and tried
first next time. Either way what was fetched is loaded, the failure is logged as an error
and listed in the resource state's `failures`, for the caller to report. Rejected
credentials stop the whole sync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import dlt

from ..arrow import arrow_types, to_arrow
from ..batches import ROWS, Batches
from ..checkpoint import NEVER, Checkpoint
from ..fanin import fan_in
from ..http import HttpClient
from ..privacy import Privacy, Scrub
from ..records import (
    MERGE_DEDUPLICATED,  # each key once per load: OncePerLoad sees to it
    OncePerLoad,
    Quarantine,
    check_records,
    parse_timestamp,
    quarantined,
)
from .client import TwilioClient, make_http
from .cursor import FlowCursor, pack_pending, unpack_pending
from .settings import (
    AS_JSON,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_WORKERS,
    EXECUTION_COLUMNS,
    FLOW_COLUMNS,
    STEP_COLUMNS,
)
from .spec import EXECUTION, SOURCE, STEP
from .workers import (
    TIMESTAMPS,
    FlowDone,
    FlowFailed,
    FlowGone,
    Rows,
    StepsFailed,
    fetch_steps,
    sync_flow,
)

log = logging.getLogger("flowsync.twilio_studio")

__all__ = ["make_http", "twilio_studio_source"]

STEP_HINTS = dlt.mark.make_hints(table_name="execution_steps", write_disposition=MERGE_DEDUPLICATED,
                                 primary_key="sid", columns=STEP_COLUMNS)
EXECUTION_TYPES = arrow_types(EXECUTION_COLUMNS)
STEP_TYPES = arrow_types(STEP_COLUMNS)
STEPS_BATCH = 8  # executions' steps a worker hands over at once (`fanin`: fewer wake-ups)
REQUIRED = ("sid",)  # the key, in every row that passed check_records


@dlt.source(name="twilio_studio")
def twilio_studio_source(
    account_sid: str | None = dlt.config.value,
    auth_token: str | None = dlt.secrets.value,
    api_key_sid: str | None = None,
    api_key_secret: str | None = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    api_version: str = "v2",
    flow_sids: Sequence[str] | None = None,
    initial_date: str | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    http: HttpClient | None = None,
    checkpoint: Checkpoint | None = None,
    privacy: Privacy | None = None,
) -> Any:
    """Twilio Studio flows, executions and execution steps.

    Args:
        account_sid, auth_token: the account's credentials (basic auth).
        api_key_sid, api_key_secret: an API key instead; used when both it and a token are set.
        base_url: the API's root.
        api_version: v2 (default) or v1.
        flow_sids: only these flows; default every flow of the account.
        initial_date: ISO 8601; the first sync starts there. Default: all the API still
            holds (30 days).
        max_workers: the most requests in flight (flows and steps fetched at once); fewer
            while the API answers 429 to too many at once (`sources.concurrency`).
        http: a ready client (tests); default one built from the credentials.
        checkpoint: when to stop fetching so the load commits (the runner loads again
            from the state); default: fetch everything in one load.
        privacy: what is stored of contact addresses (`sources.privacy`); default keep.
    """
    SOURCE.checked(api_version=api_version, max_workers=max_workers, initial_date=initial_date,
                   flow_sids=list(flow_sids) if flow_sids else None)
    start = parse_timestamp(initial_date) if initial_date else None
    if http is None:
        http = make_http(account_sid=account_sid, auth_token=auth_token, api_key_sid=api_key_sid,
                         api_key_secret=api_key_secret, base_url=base_url,
                         max_workers=max_workers)
    client = TwilioClient(http, api_version)
    wanted = list(flow_sids) if flow_sids else None
    chosen = privacy or Privacy()
    return (flows(client, wanted),
            executions(client, wanted, start, max_workers, checkpoint or NEVER,
                       (chosen.scrubber(EXECUTION), chosen.scrubber(STEP))))


@dlt.resource(name="flows", primary_key="sid", write_disposition="merge", columns=FLOW_COLUMNS)
def flows(client: TwilioClient, wanted: list[str] | None) -> Iterator[Any]:
    """One row per flow, with its `definition` (widgets and transitions: where the step
    funnel places each widget). A v2 list leaves the definition out, so a flow is fetched
    whole when its revision is one this source has not loaded yet; an unchanged flow is
    not loaded again (Studio makes a new revision of every change). v1 has no
    definitions: its flows are loaded as listed."""
    quarantine = Quarantine("Twilio Studio", "flows")
    revisions: dict[str, Any] = dlt.current.resource_state().setdefault("revisions", {})
    listed = client.selected_flows(wanted)
    if client.v != "v1":
        listed = [client.whole(f) for f in listed if not isinstance(f, dict) or not (
            f.get("sid") in revisions and revisions[f["sid"]] == f.get("revision"))]
        revisions.update({f["sid"]: f.get("revision") for f in listed
                          if isinstance(f, dict) and isinstance(f.get("sid"), str)})
    rows, bad = check_records(listed, quarantine, key="sid",
                              cursor="date_created", also_timestamps=TIMESTAMPS)
    once = OncePerLoad("sid", "Twilio Studio flows")
    yield once(rows)
    once.report()
    if bad:
        yield quarantined(bad)
    quarantine.report()


@dlt.resource(name="executions", primary_key="sid", write_disposition=MERGE_DEDUPLICATED,
              columns=EXECUTION_COLUMNS)
def executions(client: TwilioClient, wanted: list[str] | None, initial_date: datetime | None,
               max_workers: int, checkpoint: Checkpoint,
               scrubs: tuple[Scrub, Scrub] = (None, None)) -> Iterator[Any]:
    """One row per execution at its latest state; steps of newly ended ones on the side.

    At a checkpoint no new flow starts, a flow being read pauses after its page (its
    cursor says where the next load goes on: `cursor.Resume`), and no new steps fetch
    starts (the rest wait in `steps_pending`, fetched first next load; no flow is read in
    a load those fill). Executions and steps count towards the checkpoint's rows, so a
    load holds about `checkpoint.rows` rows, however big a flow. A flow read to its end
    in an earlier load of the run is not read again.
    """
    state = dlt.current.resource_state()
    cursors: dict[str, dict] = state.setdefault("flows", {})
    flow_sids = [f["sid"] for f in client.selected_flows(wanted) if f.get("sid")]
    for gone in set(cursors) - set(flow_sids):
        log.info("Twilio Studio flow %s no longer listed; its cursor is dropped", gone)
        del cursors[gone]
    quarantine = Quarantine("Twilio Studio", "executions")
    failures: list[str] = []
    unfetched: list[tuple[str, str]] = []
    deferred: list[tuple[str, str]] = []
    steps_once = OncePerLoad("sid", "Twilio Studio execution_steps")
    # steps a checkpoint left (or that failed) come first; a flow gone since drops its
    # pending steps. While they fill the load, no flow is read: the backlog never grows.
    listed = set(flow_sids)
    pending = list(dict.fromkeys((f, e) for f, e in unpack_pending(state.get("steps_pending"))
                                 if f in listed))
    yield from _steps(client, _until_due(pending, checkpoint, deferred), max_workers,
                      unfetched, checkpoint, steps_once, scrubs[1])
    need_steps: list[tuple[str, str]] = []
    tasks = (lambda emit, sid=sid: sync_flow(client, sid, FlowCursor.from_state(cursors.get(sid)),
                                              initial_date, quarantine,
                                              _counting(emit, checkpoint), scrubs[0],
                                              checkpoint.due_with)
             for sid in _until_due([f for f in flow_sids if f not in checkpoint.finished],
                                   checkpoint, [], first=not pending))
    once = OncePerLoad("sid", "Twilio Studio executions")
    batches = Batches()
    for msg in fan_in(tasks, max_workers, depth=max_workers * 2, name="twilio-flow"):
        if isinstance(msg, Rows):
            rows = once(msg.rows)
            if rows:
                yield from batches.add(to_arrow(rows, EXECUTION_TYPES, "Twilio Studio executions",
                                                REQUIRED, "executions"))
            if msg.bad:
                yield quarantined(msg.bad)
        elif isinstance(msg, FlowDone):
            cursors[msg.flow_sid] = msg.cursor.to_state()
            if msg.complete:  # read to its end: not again this run
                checkpoint.finished.add(msg.flow_sid)
            need_steps.extend((msg.flow_sid, sid) for sid in msg.need_steps)
        elif isinstance(msg, FlowGone):
            cursors.pop(msg.flow_sid, None)
        elif isinstance(msg, FlowFailed):
            # the cursor stays: the next sync reads this flow again from there
            log.error("%s; flow %s is read again next sync", msg.error, msg.flow_sid)
            failures.append(f"flow {msg.flow_sid}: {msg.error}")
    yield from batches.flush()
    quarantine.report()
    once.report()
    asked = set(pending)
    wanted_steps = _until_due([e for e in dict.fromkeys(need_steps) if e not in asked],
                              checkpoint, deferred)
    yield from _steps(client, wanted_steps, max_workers, unfetched, checkpoint, steps_once,
                      scrubs[1])
    steps_once.report()
    if unfetched:
        log.error("Twilio Studio: steps of %d execution(s) could not be fetched; tried again "
                  "next sync", len(unfetched))
        failures.append(f"steps of {len(unfetched)} execution(s) not fetched")
    limit = client.http.concurrency
    if limit is not None and limit.cuts:
        log.info("Twilio Studio: the API limited concurrent requests: %d in flight at the "
                 "end (peak %d, ceiling %d, halved %d time(s))", limit.limit, limit.peak,
                 limit.ceiling, limit.cuts)
    # the deferred first: steps that keep failing must not starve them
    state["steps_pending"] = pack_pending(deferred + unfetched)
    state["failures"] = failures


def _counting(emit: Any, checkpoint: Checkpoint) -> Any:
    """`emit`, counting the rows towards the checkpoint as the worker reads them (the
    next flow starts on a worker before the resource has taken these)."""
    def counted(msg: Any) -> None:
        if isinstance(msg, Rows):
            checkpoint.count(len(msg.rows))
        emit(msg)
    return counted


def _until_due(items: list, checkpoint: Checkpoint, rest: list, first: bool = True) -> Iterator:
    """The items until the checkpoint is due (the first one always, unless not `first`: a
    load that already made progress); `rest` gets the others."""
    for i, item in enumerate(items):
        if (i or not first) and checkpoint.due():
            rest.extend(items[i:])
            return
        yield item


def _steps_table(rows: list[dict], what: str) -> Any:
    table = to_arrow(rows, STEP_TYPES, what, REQUIRED, "execution_steps")
    return dlt.mark.with_hints(table, STEP_HINTS, create_table_variant=True)


def _steps(client: TwilioClient, wanted: Iterable[tuple[str, str]], max_workers: int,
           unfetched: list[tuple[str, str]], checkpoint: Checkpoint, once: OncePerLoad,
           scrub: Scrub = None, batch: int = ROWS) -> Iterator[Any]:
    """Steps of the given executions, fetched concurrently, yielded in batches; `once`
    holds the step sids this load has yielded.

    Executions whose steps fail for good (after retries) are appended to `unfetched`.
    """
    quarantine = Quarantine("Twilio Studio", "execution_steps")
    what = "Twilio Studio execution_steps"
    rows_out: list[dict] = []
    tasks = (lambda emit, e=e: fetch_steps(client, e, emit) for e in wanted)
    # a bounded number of results waiting: they never pile up in memory
    for msg in fan_in(tasks, max_workers, depth=max_workers * 4, name="twilio-steps",
                      batch=STEPS_BATCH):
        if isinstance(msg, StepsFailed):
            log.error("%s", msg.error)
            unfetched.append(msg.execution)
            continue
        if msg.steps is None:
            log.info("Twilio Studio: an execution's steps are gone (404); skipped")
            continue
        rows, bad = check_records(msg.steps, quarantine, key="sid", cursor="date_created",
                                  also_timestamps=TIMESTAMPS, as_json=AS_JSON, scrub=scrub)
        rows = once(rows)
        checkpoint.count(len(rows))
        rows_out.extend(rows)
        if bad:
            yield quarantined(bad)
        if len(rows_out) >= batch:
            yield _steps_table(rows_out, what)
            rows_out = []
    if rows_out:
        yield _steps_table(rows_out, what)
    quarantine.report()
