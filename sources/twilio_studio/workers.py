"""What the Twilio Studio source's worker threads do, and the typed messages they send.

`sync_flow` lists one flow's executions (and refreshes its active ones by sid);
`fetch_steps` fetches one execution's steps. Both run under `sources.fanin.fan_in` and hand
everything to the resource as the messages below; rejected credentials are raised (they
stop the whole sync), any other API failure becomes a message naming what failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..errors import ApiError, AuthError, NotFoundError
from ..fanin import Emit
from ..privacy import Scrub
from ..records import Quarantine, check_records
from .client import TwilioClient
from .cursor import FlowCursor, FlowProgress, plan
from .settings import AS_JSON, EXECUTION_STATUSES

log = logging.getLogger("flowsync.twilio_studio")

TIMESTAMPS = ("date_updated",)


# what the workers hand to the resource
@dataclass(frozen=True)
class Rows:
    rows: list[dict]
    bad: list[dict]


@dataclass(frozen=True)
class FlowDone:
    flow_sid: str
    cursor: FlowCursor
    need_steps: list[str]
    complete: bool = True  # False: the read paused at a checkpoint (`cursor.resume`)


@dataclass(frozen=True)
class FlowGone:
    flow_sid: str


@dataclass(frozen=True)
class FlowFailed:
    flow_sid: str
    error: ApiError


@dataclass(frozen=True)
class StepsFetched:
    execution: tuple[str, str]  # (flow sid, execution sid)
    steps: list[dict] | None  # None: the execution is gone


@dataclass(frozen=True)
class StepsFailed:
    execution: tuple[str, str]
    error: ApiError


def sync_flow(client: TwilioClient, flow_sid: str, before: FlowCursor,
              initial_date: datetime | None, quarantine: Quarantine, emit: Emit,
              scrub: Scrub = None, due: Callable[[int], bool] = lambda rows: False) -> None:
    """Lists one flow's executions from its cursor (and refreshes the active ones); pauses
    between pages when `due` says a checkpoint is, counting the page in hand (`FlowDone`
    with `complete` False)."""
    try:
        p = plan(before, initial_date, client.http.server_time)
        if p.expired:
            log.warning("Twilio Studio flow %s: %d execution(s) still active past the "
                        "30-day retention are gone from the API", flow_sid, p.expired)
        progress = FlowProgress(before, p)
        warned = False
        for raw, more in client.execution_pages(flow_sid, p.date_from, p.date_to):
            rows, bad = check_records(raw, quarantine, key="sid", cursor="date_created",
                                      statuses=EXECUTION_STATUSES, also_timestamps=TIMESTAMPS,
                                      as_json=AS_JSON, scrub=scrub)
            # each execution once per sync: the load skips dlt's deduplication
            fresh = [row for row in rows if row["sid"] not in progress.seen]
            keep = progress.cut(fresh) if more and due(len(fresh)) else None
            for row in fresh if keep is None else keep:
                progress.add(row)
            emit(Rows(fresh if keep is None else keep, bad))
            if keep is not None:
                emit(FlowDone(flow_sid, progress.pause(), progress.need_steps, complete=False))
                return
            if not progress.ordered and not warned:
                warned = True
                log.warning("Twilio Studio flow %s: executions are not listed newest-first; "
                            "the flow is read to its end in one load", flow_sid)
        refreshed = []
        for sid in p.refresh.keys() - progress.seen:
            raw_row = client.execution(flow_sid, sid)
            if raw_row is None:
                log.info("Twilio Studio execution %s is gone (404); no longer refreshed", sid)
                continue
            rows, bad = check_records([raw_row], quarantine, key="sid", cursor="date_created",
                                      statuses=EXECUTION_STATUSES, also_timestamps=TIMESTAMPS,
                                      as_json=AS_JSON, scrub=scrub)
            for row in rows:
                progress.add(row, listed=False)
            refreshed.extend(rows)
            if bad:
                emit(Rows([], bad))
        if refreshed:
            emit(Rows(refreshed, []))
        emit(FlowDone(flow_sid, progress.finish(), progress.need_steps))
    except NotFoundError:
        log.warning("Twilio Studio flow %s not found (deleted meanwhile?); skipped", flow_sid)
        emit(FlowGone(flow_sid))
    except AuthError:
        raise  # stops the whole sync
    except ApiError as exc:
        emit(FlowFailed(flow_sid, exc))


def fetch_steps(client: TwilioClient, execution: tuple[str, str], emit: Emit) -> None:
    """One execution's steps, or why they could not be fetched."""
    try:
        emit(StepsFetched(execution, client.steps(*execution)))
    except AuthError:
        raise
    except ApiError as exc:
        emit(StepsFailed(execution, exc))
