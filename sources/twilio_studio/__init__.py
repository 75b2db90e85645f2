"""dlt source for Twilio Studio: flows, executions and their steps.

`executions` keeps one cursor per flow in the resource's state (`FlowCursor`): flows are
read concurrently, and one cursor for all of them would let a fast flow's newest
execution hide a slower flow's. Each flow's cursor moves only with that flow's rows, and
the state is saved with the load, so a failed sync leaves every cursor where it was.
Steps are fetched once per execution, in the sync that first sees it ended (steps no
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

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

import dlt
import httpx

from ..arrow import arrow_types, to_arrow
from ..http import ApiError, AuthError, HttpClient, NotFoundError
from ..records import (
    MERGE_DEDUPLICATED,  # a sync yields executions once per flow, steps once per execution
    QUARANTINE_HINTS,
    Quarantine,
    check_records,
    parse_timestamp,
)
from .client import FlowCursor, FlowProgress, TwilioClient, plan
from .settings import (
    API_VERSIONS,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_WORKERS,
    EXECUTION_COLUMNS,
    EXECUTION_STATUSES,
    FLOW_COLUMNS,
    FLOW_SID_PATTERN,
    STEP_COLUMNS,
)

log = logging.getLogger("flowsync.twilio_studio")

STEP_HINTS = dlt.mark.make_hints(table_name="execution_steps", write_disposition=MERGE_DEDUPLICATED,
                                 primary_key="sid", columns=STEP_COLUMNS)
TIMESTAMPS = ("date_updated",)
EXECUTION_TYPES = arrow_types(EXECUTION_COLUMNS)
STEP_TYPES = arrow_types(STEP_COLUMNS)
REQUIRED = ("sid",)  # the key, in every row that passed check_records


def make_http(*, account_sid: str | None = None, auth_token: str | None = None,
              api_key_sid: str | None = None, api_key_secret: str | None = None,
              base_url: str = DEFAULT_BASE_URL, transport: httpx.BaseTransport | None = None,
              **options: Any) -> HttpClient:
    """The HTTP client for Twilio: basic auth with the API key if set, else the auth token."""
    if api_key_sid and api_key_secret:
        auth = (api_key_sid, api_key_secret)
        hint = ("sources.twilio_studio.api_key_sid / api_key_secret "
                "(SOURCES__TWILIO_STUDIO__API_KEY_SID / ..._API_KEY_SECRET)")
    elif account_sid and auth_token:
        auth = (account_sid, auth_token)
        hint = ("sources.twilio_studio.account_sid / auth_token "
                "(SOURCES__TWILIO_STUDIO__ACCOUNT_SID / ..._AUTH_TOKEN)")
    else:
        raise ValueError(
            "Twilio Studio is not configured: set sources.twilio_studio.account_sid and "
            "auth_token, or api_key_sid and api_key_secret (SOURCES__TWILIO_STUDIO__...)")
    return HttpClient(base_url, service="Twilio Studio", auth_hint=hint, auth=auth,
                      transport=transport, **options)


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
        max_workers: flows (and steps) fetched at once.
        http: a ready client (tests); default one built from the credentials.
    """
    if api_version not in API_VERSIONS:
        raise ValueError(f"sources.twilio_studio.api_version must be v1 or v2, not {api_version!r}")
    if max_workers < 1:
        raise ValueError(f"sources.twilio_studio.max_workers must be at least 1, not {max_workers}")
    bad = [s for s in flow_sids or () if not re.match(FLOW_SID_PATTERN, s)]
    if bad:
        raise ValueError(f"sources.twilio_studio.flow_sids: not flow SIDs (FW + 32 hex): {bad}")
    start = None
    if initial_date:
        start = parse_timestamp(initial_date)
        if start is None:
            raise ValueError("sources.twilio_studio.initial_date is not an ISO 8601 date: "
                             f"{initial_date!r}")
    if http is None:
        http = make_http(account_sid=account_sid, auth_token=auth_token, api_key_sid=api_key_sid,
                         api_key_secret=api_key_secret, base_url=base_url,
                         max_connections=max_workers * 2)
    client = TwilioClient(http, api_version)
    wanted = list(flow_sids) if flow_sids else None
    return (flows(client, wanted), executions(client, wanted, start, max_workers))


@dlt.resource(name="flows", primary_key="sid", write_disposition="merge", columns=FLOW_COLUMNS)
def flows(client: TwilioClient, wanted: list[str] | None) -> Iterator[Any]:
    """One row per flow."""
    quarantine = Quarantine("Twilio Studio", "flows")
    rows, bad = check_records(client.selected_flows(wanted), quarantine, key="sid",
                              cursor="date_created", also_timestamps=TIMESTAMPS)
    yield rows
    if bad:
        yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
    quarantine.report()


class _StoppedError(Exception):
    pass


@dlt.resource(name="executions", primary_key="sid", write_disposition=MERGE_DEDUPLICATED,
              columns=EXECUTION_COLUMNS)
def executions(client: TwilioClient, wanted: list[str] | None, initial_date: datetime | None,
               max_workers: int) -> Iterator[Any]:
    """One row per execution at its latest state; steps of newly ended ones on the side."""
    state = dlt.current.resource_state()
    cursors: dict[str, dict] = state.setdefault("flows", {})
    flow_sids = [f["sid"] for f in client.selected_flows(wanted) if f.get("sid")]
    for gone in set(cursors) - set(flow_sids):
        log.info("Twilio Studio flow %s no longer listed; its cursor is dropped", gone)
        del cursors[gone]
    quarantine = Quarantine("Twilio Studio", "executions")
    failures: list[str] = []
    # steps that failed last time come first; a flow gone since drops its pending steps
    need_steps: list[tuple[str, str]] = [(f, e) for f, e in state.get("steps_pending") or []
                                         if f in flow_sids]
    messages: queue.Queue = queue.Queue(maxsize=max_workers * 2)
    stop = threading.Event()

    def put(item: tuple) -> None:
        while not stop.is_set():
            try:
                messages.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _StoppedError

    def sync_flow(flow_sid: str) -> None:
        try:
            before = FlowCursor.from_state(cursors.get(flow_sid))
            p = plan(before, initial_date)
            if p.expired:
                log.warning("Twilio Studio flow %s: %d execution(s) still active past the "
                            "30-day retention are gone from the API", flow_sid, p.expired)
            progress = FlowProgress(before, p)
            for raw in client.execution_pages(flow_sid, p.date_from):
                rows, bad = check_records(raw, quarantine, key="sid", cursor="date_created",
                                          statuses=EXECUTION_STATUSES, also_timestamps=TIMESTAMPS)
                fresh = []
                for row in rows:
                    # each execution once per sync: the load skips dlt's deduplication
                    if row["sid"] not in progress.seen:
                        progress.add(row)
                        fresh.append(row)
                put(("rows", fresh, bad))
            refreshed = []
            for sid in p.refresh.keys() - progress.seen:
                raw_row = client.execution(flow_sid, sid)
                if raw_row is None:
                    log.info("Twilio Studio execution %s is gone (404); no longer refreshed", sid)
                    continue
                rows, bad = check_records([raw_row], quarantine, key="sid", cursor="date_created",
                                          statuses=EXECUTION_STATUSES, also_timestamps=TIMESTAMPS)
                for row in rows:
                    progress.add(row, listed=False)
                refreshed.extend(rows)
                if bad:
                    put(("rows", [], bad))
            if refreshed:
                put(("rows", refreshed, []))
            put(("done", flow_sid, progress.finish(), progress.need_steps))
        except NotFoundError:
            log.warning("Twilio Studio flow %s not found (deleted meanwhile?); skipped", flow_sid)
            put(("gone", flow_sid))
        except _StoppedError:
            pass
        except ApiError as exc:
            if isinstance(exc, AuthError):
                with contextlib.suppress(_StoppedError):
                    put(("error", exc))
                return
            with contextlib.suppress(_StoppedError):
                put(("failed", flow_sid, exc))
        except BaseException as exc:  # handed to the generator, which raises it
            with contextlib.suppress(_StoppedError):
                put(("error", exc))

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="twilio-flow") as pool:
        try:
            for sid in flow_sids:
                pool.submit(sync_flow, sid)
            pending = len(flow_sids)
            while pending:
                msg = messages.get()
                if msg[0] == "rows":
                    if msg[1]:
                        yield to_arrow(msg[1], EXECUTION_TYPES, "Twilio Studio executions",
                                       REQUIRED)
                    if msg[2]:
                        yield dlt.mark.with_hints(msg[2], QUARANTINE_HINTS)
                elif msg[0] == "done":
                    _, flow_sid, cursor, steps = msg
                    cursors[flow_sid] = cursor.to_state()
                    need_steps.extend((flow_sid, sid) for sid in steps)
                    pending -= 1
                elif msg[0] == "gone":
                    cursors.pop(msg[1], None)
                    pending -= 1
                elif msg[0] == "failed":
                    # the cursor stays: the next sync reads this flow again from there
                    log.error("%s; flow %s is read again next sync", msg[2], msg[1])
                    failures.append(f"flow {msg[1]}: {msg[2]}")
                    pending -= 1
                else:
                    raise msg[1]
        finally:
            stop.set()
    quarantine.report()
    unfetched: list[tuple[str, str]] = []
    yield from _steps(client, list(dict.fromkeys(need_steps)), max_workers, unfetched)
    if unfetched:
        log.error("Twilio Studio: steps of %d execution(s) could not be fetched; tried again "
                  "next sync", len(unfetched))
        failures.append(f"steps of {len(unfetched)} execution(s) not fetched")
    state["steps_pending"] = unfetched
    state["failures"] = failures


def _steps(client: TwilioClient, wanted: list[tuple[str, str]], max_workers: int,
           unfetched: list[tuple[str, str]], batch: int = 1000) -> Iterator[Any]:
    """Steps of the given executions, fetched concurrently, yielded in batches.

    Executions whose steps fail for good (after retries) are appended to `unfetched`.
    """
    quarantine = Quarantine("Twilio Studio", "execution_steps")
    what = "Twilio Studio execution_steps"
    todo = iter(wanted)
    rows_out: list[dict] = []
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="twilio-steps") as pool:
        running: dict[Future, tuple[str, str]] = {}

        def refill() -> None:
            # a bounded number in flight: results never pile up in memory
            while len(running) < max_workers * 4:
                item = next(todo, None)
                if item is None:
                    return
                running[pool.submit(client.steps, *item)] = item

        refill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                try:
                    steps = fut.result()
                except AuthError:
                    raise
                except ApiError as exc:
                    log.error("%s", exc)
                    unfetched.append(item)
                    continue
                if steps is None:
                    log.info("Twilio Studio: an execution's steps are gone (404); skipped")
                    continue
                rows, bad = check_records(steps, quarantine, key="sid", cursor="date_created",
                                          also_timestamps=TIMESTAMPS)
                rows_out.extend(rows)
                if bad:
                    yield dlt.mark.with_hints(bad, QUARANTINE_HINTS)
            refill()
            if len(rows_out) >= batch:
                yield dlt.mark.with_hints(to_arrow(rows_out, STEP_TYPES, what, REQUIRED), STEP_HINTS)
                rows_out = []
    if rows_out:
        yield dlt.mark.with_hints(to_arrow(rows_out, STEP_TYPES, what, REQUIRED), STEP_HINTS)
    quarantine.report()
