"""What the commands do, below the command line: run the configured sources one after
another, rebuild the analytics, say what happened (`events`), and decide the exit code.

The exit codes are `exits.Exit`'s. Before anything else, a command that writes brings the
warehouse's layout up to date (`upkeep.up_to_date`).

A command holds the warehouse (`warehouse.Destination.session`) from its first load to the end
of the analytics rebuild; one that finds it taken waits its turn, saying for whom.

SIGINT and SIGTERM stop the whole command (`stoppable`): the source running stops at its
next step (no new request starts), the remaining sources and the analytics rebuild are
skipped, and one line says what was kept.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import TypeVar

from dlt.common.runtime import signals

from sources.errors import ConfigError, FlowsyncError, Outcome, first_line
from sources.privacy import Privacy

from . import config, events
from .accounts import Account, Selection, configured, select
from .exits import Exit
from .privacy import reconcile, settle
from .progress import Progress
from .runner import SourceRun, run_source
from .upkeep import keep_private, note_sync, up_to_date
from .warehouse import Destination, make_destination


@contextmanager
def stoppable() -> Iterator[None]:
    """SIGINT and SIGTERM, for the whole command, set a flag that every step heeds (dlt's
    handler, installed once here instead of around each dlt step); a second one ends the
    process at once."""
    with signals.intercepted_signals():
        yield


def stop_requested() -> Exit | None:
    """The exit code for the signal received, if any."""
    if not signals.was_signal_received():
        return None
    code = signals.exception_for_signal().signal_code  # type: ignore[attr-defined]
    return Exit.SIGINT if code == signal.SIGINT else Exit.SIGTERM


def select_sources(wanted: str, accounts: Sequence[str] = ()) -> Selection:
    """`all` (every configured source) or one source, which must be configured; of their
    accounts, those named (all by default)."""
    return select(wanted, accounts)


def exit_code(results: list[SourceRun]) -> Exit:
    """Busy only when every failure was; configuration only when every failure was."""
    stopped = stop_requested()
    if stopped is not None:
        return stopped
    failed = [r for r in results if not r.ok]
    if not failed:
        return Exit.OK
    if all(r.outcome is Outcome.BUSY for r in failed):
        return Exit.BUSY
    if all(r.outcome is Outcome.CONFIG for r in failed):
        return Exit.CONFIG
    return Exit.FAILED


def exit_for(outcome: Outcome) -> Exit:
    """The exit code of a command ended by one outcome (a wait for the warehouse)."""
    if outcome is Outcome.STOPPED:
        return stop_requested() or Exit.SIGINT
    return {Outcome.OK: Exit.OK, Outcome.CONFIG: Exit.CONFIG,
            Outcome.BUSY: Exit.BUSY}.get(outcome, Exit.FAILED)


T = TypeVar("T")


def holding(destination: Destination, work: Callable[[Destination], T]) -> T | Exit:
    """`work` on the warehouse once this command holds it (waiting its turn); the exit code
    if it never did."""
    try:
        with destination.session() as bound:
            return work(bound)
    except FlowsyncError as exc:  # the wait (busy, stopped) or the warehouse's file
        events.notice(str(exc))
        return exit_for(exc.outcome)


def print_result(r: SourceRun) -> None:
    status = "ok" if r.ok else "STOPPED" if r.outcome is Outcome.STOPPED else "FAILED"
    tables = ", ".join(f"{t} {n:,}" for t, n in sorted(r.rows.items())) or "none"
    events.result(f"{r.label}: {status} in {r.seconds:.1f} s, {r.requests:,} requests; "
                  f"rows fetched: {tables}", r.source, r.account.name,
                  {"outcome": r.outcome.value, "seconds": round(r.seconds, 3),
                   "requests": r.requests, "rows": dict(r.rows),
                   "checkpoints": r.checkpoints})


def transform(destination: Destination, full: bool = False) -> Exit:
    """Brings the analytics tables up to date (only what changed, unless `full` or the
    models or settings changed: `transforms.incremental`) and prints what they hold."""
    from transforms.incremental import rebuild
    from transforms.runner import SCHEMA, BuildStoppedError, CheckFailedError

    t0 = time.perf_counter()
    try:
        variables = config.model_variables()
        with destination.warehouse() as wh:
            built = rebuild(wh, variables, should_stop=signals.was_signal_received, full=full)
    except BuildStoppedError as exc:
        events.notice(f"transform: {exc}")
        return stop_requested() or Exit.FAILED
    except ConfigError as exc:
        events.notice(f"transform: {exc}")
        return Exit.CONFIG
    except CheckFailedError as exc:
        events.notice(f"transform: {exc}; the previous tables are kept")
        return Exit.FAILED
    except Exception as exc:  # the database's own error, in one line
        events.notice(f"transform failed: {type(exc).__name__}: {first_line(exc)}")
        return Exit.FAILED
    results = built.results
    how = f"in full: {built.full_because}" if built.full_because else "what changed"
    marts = ", ".join(f"{r.name} {r.rows:,}" for r in results if r.schema == SCHEMA)
    events.result(f"analytics: rebuilt in {time.perf_counter() - t0:.1f} s ({how}); "
                  f"rows: {marts}",
                  figures={"seconds": round(time.perf_counter() - t0, 3),
                           "full": built.full_because is not None,
                           "rows": {r.name: r.rows for r in results if r.schema == SCHEMA}})
    project = config.get("transform.dbt_project")
    return dbt_build(destination, str(project)) if project else Exit.OK


def dbt_build(destination: Destination, project: str) -> Exit:
    """The team's dbt project, built on the rebuilt analytics (`transform.dbt_project`):
    exit 1 naming what failed; flowsync's own tables stay rebuilt either way."""
    from .dbt import build

    try:
        built = build(destination, project)
    except ConfigError as exc:
        events.notice(f"dbt: {exc}")
        return Exit.FAILED
    counts = ", ".join(f"{status} {n}" for status, n in sorted(built.statuses.items()))
    if built.ok:
        events.result(f"dbt: build ok in {built.seconds:.1f} s; {counts or 'nothing to build'}")
        return Exit.OK
    for failure in built.failures:
        events.notice(f"dbt: {failure}")
    events.notice(f"dbt: build FAILED in {built.seconds:.1f} s ({counts}); flowsync's "
                  "analytics tables are rebuilt all the same")
    return Exit.FAILED


def transform_watched(destination: Destination, full: bool = False) -> Exit:
    """`flowsync transform`: the rebuild, on the held warehouse, watched for hangs."""
    def rebuild(bound: Destination) -> Exit:
        with bound.upkeep():
            return up_to_date(bound) or transform(bound, full)

    return holding(destination, rebuild)


def destination_or_exit(kind: str, duckdb_path: str | None = None,
                        sources: Sequence[str] = ()) -> Destination | Exit:
    """The destination, once every setting the command reads is known good (`config.check`,
    the sources' accounts): a bad one is exit 2 before any file, folder, connection or
    request."""
    try:
        config.check()
        configured(sources)
    except ConfigError as exc:
        events.notice(str(exc))
        return Exit.CONFIG
    try:
        return make_destination(kind, duckdb_path)
    except ConfigError as exc:
        events.notice(f"{kind}: {exc}")
        return Exit.CONFIG


def run_sources(sources: list[str], destination_kind: str, duckdb_path: str | None = None,
                analytics: bool = False, progress: Progress | None = None,
                accounts: Sequence[str] = ()) -> tuple[Exit, list[SourceRun]]:
    """Runs the sources' accounts (those named, or all), several at once
    (`accounts.workers`), then (optionally) the analytics; `progress`, if given, is told
    how each is going.

    Returns the exit code and what each account did.
    """
    destination = destination_or_exit(destination_kind, duckdb_path, sources)
    if isinstance(destination, Exit):
        return destination, []
    chosen = [a for a in configured(sources) if not accounts or a.name in accounts]
    try:
        privacy, rewrite = config.privacy(), config.get_bool("privacy.rewrite")
    except ConfigError as exc:
        events.notice(str(exc))
        return Exit.CONFIG, []
    done = holding(destination, lambda bound: _run_sources(chosen, bound, analytics,
                                                           privacy, rewrite, progress))
    return (done, []) if isinstance(done, Exit) else done


def _run_sources(accounts: list[Account], destination: Destination, analytics: bool,
                 privacy: Privacy, rewrite: bool,
                 progress: Progress | None) -> tuple[Exit, list[SourceRun]]:
    with destination.upkeep():
        refused = up_to_date(destination) or keep_private(
            destination, lambda wh: reconcile(wh, privacy, rewrite))
    if refused is not None:
        return refused, []
    events.result(f"flowsync: loading {', '.join(a.label for a in accounts)} into "
                  f"{destination.label}"
                  + ("" if privacy.keeps else f"; contact addresses: {privacy.mode}"))
    results = []
    for result in run_accounts(accounts, destination, progress, privacy):
        print_result(result)
        if result.error and result.outcome is not Outcome.STOPPED:
            events.notice(f"{result.label}: {result.error}", result.source)
        if result.outcome is not Outcome.BUSY:  # the other run records its own
            note_sync(destination, result)
        results.append(result)
    stopped = stop_requested()
    if stopped is not None:
        summary = stop_summary([a.label for a in accounts], results, analytics)
        events.notice(f"stopped by {stopped.name}: {summary}")
        return stopped, results
    if not privacy.keeps and any(r.completed_pending for r in results):
        # a load an interrupted run left (before a change of mode?) may have been in clear
        with destination.upkeep():
            failed = keep_private(destination, lambda wh: settle(wh, privacy))
        if failed is not None:
            return failed, results
    # the analytics (sync_status among them) are rebuilt whatever loaded, failures included;
    # not when another run holds the pipelines: that run rebuilds them
    if analytics and any(r.outcome is not Outcome.BUSY for r in results):
        with destination.rebuild_turn() as now:
            code = transform(destination) if now else Exit.OK
        if not now:
            events.notice("analytics: left to the run queued to rebuild them next (it "
                          "starts after these loads)")
        if code != Exit.OK:
            return code, results
    return exit_code(results), results


def run_accounts(accounts: list[Account], destination: Destination,
                 progress: Progress | None, privacy: Privacy) -> Iterator[SourceRun]:
    """Each account's run, as each ends: the sources one after another, each one's
    accounts up to `accounts.workers` at once; none started once a stop is asked for."""
    def one(account: Account) -> SourceRun | None:
        return None if stop_requested() else run_source(account, destination, progress,
                                                        privacy)

    workers = min(config.get_int("accounts.workers"), len(accounts)) or 1
    sources = list(dict.fromkeys(a.source for a in accounts))
    with ThreadPoolExecutor(workers, thread_name_prefix="account") as pool:
        for source in sources:
            mine = [a for a in accounts if a.source == source]
            for future in as_completed([pool.submit(one, a) for a in mine]):
                result = future.result()
                if result is not None:
                    if progress is not None:
                        progress.done()
                    yield result


def stop_summary(labels: list[str], results: list[SourceRun], analytics: bool) -> str:
    """What a stopped run kept, in one line."""
    parts = []
    for r in results:
        if r.outcome is Outcome.STOPPED:
            parts.append(f"{r.label} {r.error}")
        else:
            parts.append(f"{r.label} {'loaded' if r.loaded else 'failed'}")
    done = {r.label for r in results}
    skipped = [s for s in labels if s not in done]
    if skipped:
        parts.append(f"{', '.join(skipped)} not started")
    if analytics:
        parts.append("analytics not rebuilt")
    return "; ".join(parts)
