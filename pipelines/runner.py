"""One account of a source through its own dlt pipeline: lock, open, complete pending
loads, run.

One pipeline per source and account (`accounts.Account.pipeline_name`: `flowsync_hilos`,
`flowsync_twilio_studio__acme`) into the source's dataset (`hilos`, `twilio_studio`), in
`<state dir>/pipelines` (the deployment's own folder, see `warehouse.state_dir`); every row
it loads carries the account's name (`account`). A run first completes whatever an
interrupted run left pending, then extracts, normalizes and loads new data, and deletes
each package once loaded. A lock per pipeline keeps two runs of one account apart.

A run ends in a `SourceRun` whose `outcome` is read off the error that ended it (every
error flowsync raises carries its outcome, `sources.errors`); anything else that fails
inside dlt is `failed`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.exceptions import SignalReceivedException
from dlt.pipeline.exceptions import PipelineStepFailed

from sources import registry
from sources.checkpoint import Checkpoint
from sources.errors import FlowsyncError, Outcome, first_line
from sources.http import HttpClient
from sources.privacy import Privacy
from sources.spec import Source
from transforms.incremental import invalidate

from . import collector, config, memory
from .accounts import Account
from .lock import pipeline_lock
from .privacy import mark_unchecked
from .progress import OnProgress, RowCounter, ticker
from .repair import (
    check_dlt,
    delete_loaded_packages,
    drop_extracted_copies_of_normalized,
    redo_interrupted_jobs,
)
from .warehouse import Destination
from .working import open_pipeline, record_load

log = logging.getLogger("flowsync")


@dataclass
class SourceRun:
    """What one account's run did."""

    account: Account
    outcome: Outcome = Outcome.FAILED
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # its load completed, whatever else failed (a flow or some steps may be pending)
    loaded: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    # stopped by a signal: whether a load is left pending for the next run to complete
    load_pending: bool = False
    checkpoints: int = 0  # loads committed
    completed_pending: bool = False  # it completed a load an interrupted run had left

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def source(self) -> str:
        return self.account.source

    @property
    def label(self) -> str:
        return self.account.label


def make_checkpoint() -> Checkpoint:
    return Checkpoint(float(config.get_int("checkpoint.seconds")),
                      config.get_int("checkpoint.requests"), config.get_int("checkpoint.rows"))


def run_source(account: Account, destination: Destination,
               on_progress: OnProgress | None = None,
               privacy: Privacy | None = None) -> SourceRun:
    """Runs one account of a source into the destination. Never raises for its own
    failures."""
    result = SourceRun(account)
    source, label = account.source, account.label
    # dlt's intermediate files live for minutes and are deleted after loading: compressing
    # them cost 1.5 of 11.5 s on a 100k-row load (README); a user's setting still wins
    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
    # every raw row names the load that wrote it (`_dlt_load_id`), as dlt's JSON path does
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # dlt's `<dataset>_staging` tables would keep a second copy of every merged table's
    # last load for good: emptied once the load is done (a user's setting still wins)
    os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")
    memory.lean_arrow()
    memory.few_arenas()
    memory.fixed_mmap_threshold()
    t0 = time.perf_counter()
    http: HttpClient | None = None
    pipeline: dlt.Pipeline | None = None
    counter = RowCounter()
    try:
        with pipeline_lock(destination.state_dir / "locks", account.pipeline_name,
                           float(config.get_int("lock.wait_seconds"))), \
                destination.account_lock(account.pipeline_name):
            check_dlt()
            with destination.gate():
                pipeline = open_pipeline(account, destination, counter)
                result.completed_pending = _complete_pending(pipeline, destination, label,
                                                             privacy)
                pipeline.sync_destination()  # as dlt's `run` does: the state the warehouse holds
            spec = registry.get(source)
            checkpoint = make_checkpoint()
            http = spec.connect(account.settings)
            with ticker(label, http, counter, t0, on_progress), collector.fewer_collections():
                _load_in_checkpoints(pipeline, spec, http, checkpoint, destination, result,
                                     lambda: with_account(spec.build(
                                         account.settings, http, checkpoint,
                                         privacy or Privacy()), account.name))
            failures = _recorded_failures(pipeline, source)
            if failures:
                result.error = "; ".join(failures)
            else:
                result.outcome = Outcome.OK
    except FlowsyncError as exc:  # understood outside dlt: the lock, a setting
        result.outcome, result.error = exc.outcome, str(exc)
    except PipelineStepFailed as exc:
        known = _flowsync_error(exc)
        if any(isinstance(e, SignalReceivedException) for e in _chain(exc)):
            _stopped(result, pipeline)
        elif known is not None:
            result.outcome, result.error = known.outcome, str(known)
        else:
            result.error = f"{exc.step} failed: {first_line(_root(exc))}"
    except KeyboardInterrupt:  # dlt's SignalReceivedException, or Ctrl-C outside a step
        _stopped(result, pipeline)
    finally:
        result.seconds = time.perf_counter() - t0
        if http is not None:
            result.requests = http.request_count
            http.close()
    return result


def _complete_pending(pipeline: dlt.Pipeline, destination: Destination, label: str,
                      privacy: Privacy | None) -> bool:
    """Completes the load an interrupted run left pending, if any."""
    if not pipeline.has_pending_data:
        return False
    log.warning("%s: completing the load an interrupted run left pending", label)
    drop_extracted_copies_of_normalized(pipeline)
    pipeline.normalize()
    redo_interrupted_jobs(pipeline)
    with destination.warehouse() as wh:
        # its load id may be older than those the analytics remember: rebuild in full
        invalidate(wh, "a load an interrupted run left pending was completed")
        if privacy is not None and not privacy.keeps:
            mark_unchecked(wh)
    record_load(pipeline, destination.load(pipeline))
    delete_loaded_packages(pipeline)
    return True


def with_account(source: Any, name: str) -> Any:
    """The dlt source with every row it yields (dicts and Arrow tables) marked with the
    account's name, in column `account`."""
    import pyarrow as pa

    def mark(item: Any) -> Any:
        if isinstance(item, dict):
            item["account"] = name
        elif isinstance(item, pa.Table | pa.RecordBatch):
            column = pa.array([name] * item.num_rows, pa.string())
            item = (item.set_column(item.schema.get_field_index("account"), "account", column)
                    if "account" in item.schema.names else item.append_column("account", column))
        return item

    for resource in source.resources.values():
        resource.add_map(mark)
    return source


def _load_in_checkpoints(pipeline: dlt.Pipeline, spec: Source, http: HttpClient,
                         checkpoint: Checkpoint, destination: Destination, result: SourceRun,
                         build: Callable[[], Any]) -> None:
    """Loads the source until it has nothing left, one load per checkpoint: rows and
    cursors are committed together each time, so a kill loses one checkpoint at most."""
    loads: list[str] = []
    while True:
        checkpoint.start(http)
        pipeline.extract(build(), loader_file_format=destination.loader_file_format)
        pipeline.normalize()
        loads += destination.load(pipeline)
        record_load(pipeline, loads)
        delete_loaded_packages(pipeline)
        memory.release()  # the next load's peak reuses this one's memory, not new memory
        result.loaded = True
        result.checkpoints += 1
        rows = _extracted_rows(pipeline)
        for table, n in rows.items():
            result.rows[table] = result.rows.get(table, 0) + n
        if not checkpoint.reached:
            if result.checkpoints > 1:  # a row read again in a later load counts once
                result.rows = _rows_loaded(destination, spec.dataset, result, loads)
            return
        # (a table listed whole in every load is no progress)
        whole = {t.name for t in spec.tables if t.every_load}
        if not any(n for t, n in rows.items() if t not in whole):
            log.warning("%s: a checkpoint load fetched no rows; the rest waits for the next "
                        "run", spec.name)
            return
        log.info("%s: checkpoint %d committed (%s rows so far); going on", spec.name,
                 result.checkpoints, f"{sum(result.rows.values()):,}")


def _stopped(result: SourceRun, pipeline: dlt.Pipeline | None) -> None:
    result.outcome = Outcome.STOPPED
    result.load_pending = bool(pipeline is not None and pipeline.has_pending_data)
    if not result.checkpoints:
        result.error = ("stopped; its load is kept and completes next run" if result.load_pending
                        else "stopped; what it fetched is fetched again next run")
        return
    kept = f"stopped; {result.checkpoints} checkpoint load(s) kept"
    result.error = (f"{kept}, the last one completes next run" if result.load_pending
                    else f"{kept}; what it fetched since is fetched again next run")


def _rows_loaded(destination: Destination, dataset: str, result: SourceRun,
                 loads: list[str]) -> dict[str, int]:
    """Rows per table whose last load was one of `loads`: each row once, however many of
    the run's loads read it (a window read again, an open run checked again)."""
    marks = ", ".join(["%s"] * len(loads))
    counted = dict(result.rows)  # a table without load ids keeps what extract counted
    with destination.warehouse() as wh:
        for table in result.rows:
            if {"account", "_dlt_load_id"} <= (wh.columns(dataset, table) or set()):
                counted[table] = int(wh.scalar(
                    f"select count(*) from {dataset}.{table} where account = %s and "
                    f"_dlt_load_id in ({marks})", (result.account.name, *loads)))
    return counted


def _extracted_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows fetched per table in the last run.

    From the extract step: with the csv loader, dlt 1.31's normalize row counts come out
    multiplied by about the number of columns.
    """
    trace = pipeline.last_trace
    info = trace.last_extract_info if trace else None
    counts: dict[str, int] = {}
    for metrics in (info.metrics.values() if info else ()):
        for m in metrics:
            for table, tm in m["table_metrics"].items():
                if not table.startswith("_dlt"):
                    counts[table] = counts.get(table, 0) + tm.items_count
    return counts


def _recorded_failures(pipeline: dlt.Pipeline, source: str) -> list[str]:
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    return [f for r in resources.values() if isinstance(r, dict) for f in r.get("failures") or []]


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _flowsync_error(exc: BaseException) -> FlowsyncError | None:
    """The error flowsync raised inside dlt's step, if it was one of ours."""
    return next((e for e in _chain(exc) if isinstance(e, FlowsyncError)), None)


def _root(exc: BaseException) -> BaseException:
    return _chain(exc)[-1]
