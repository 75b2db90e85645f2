"""flowsync for Dagster (`pip install -e ".[dagster]"`):

    dagster asset materialize -m pipelines.dagster_defs --select '*'
    dagster dev -m pipelines.dagster_defs

`defs` holds an asset per configured source and account (`flowsync/<source>/<account>`),
`flowsync/analytics` downstream of them, the job `flowsync` that materializes them all and
a schedule for it (every 15 minutes; `flowsync.schedule`). Each asset goes through the
same path as `flowsync run` (settings checked, the warehouse held in turn, repairs, privacy,
checkpoints; `app.run_sources`), never a bare dlt pipeline: its events go to Dagster's log,
its figures to the materialization's metadata, and a failed outcome fails the asset with
flowsync's own line. The warehouse is `flowsync.destination` (duckdb or postgres), as the
CLI's `--destination`; Dagster's executors may run the accounts on many machines against
one Postgres warehouse (they load side by side there; on DuckDB they take turns).
"""

# no `from __future__ import annotations` here: Dagster reads the context's annotation
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

from . import config, events
from .accounts import Account, configured
from .app import Exit, destination_or_exit, run_sources, transform_watched

GROUP = "flowsync"


@contextmanager
def _logged(context: dg.AssetExecutionContext) -> Iterator[list[str]]:
    """flowsync's events to Dagster's log; the notices kept for a failure's message."""
    notices: list[str] = []

    def listen(event: events.Event) -> None:
        if event.kind == events.RESULT:
            context.log.info(event.text)
        else:
            notices.append(event.text)
            context.log.warning(event.text)

    with events.listening(listen):
        yield notices


def _fail(code: Exit, notices: list[str]) -> dg.Failure:
    return dg.Failure(description=f"flowsync exit {int(code)} ({code.name}): "
                      + ("; ".join(notices) or "see the log"))


def _load_asset(account: Account) -> dg.AssetsDefinition:
    @dg.asset(key=dg.AssetKey(["flowsync", account.source, account.name]), group_name=GROUP,
              description=f"{account.label}: its raw tables, loaded as `flowsync run "
                          f"--source {account.source} --account {account.name} "
                          "--no-transform` does")
    def load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with _logged(context) as notices:
            code, results = run_sources([account.source], str(config.get("flowsync.destination")),
                                        accounts=[account.name])
            if code != Exit.OK and results:
                # Dagster skips `flowsync/analytics` after a failed load: one account's
                # lasting failure must not freeze everyone's tables, nor hide itself from
                # sync_status, so the rebuild happens here (as `flowsync run` does)
                _rebuild()
        if code != Exit.OK:
            raise _fail(code, notices)
        metadata = {"requests": sum(r.requests for r in results),
                    "seconds": round(sum(r.seconds for r in results), 1)}
        metadata.update({f"rows_{table}": n for r in results for table, n in r.rows.items()})
        return dg.MaterializeResult(metadata=metadata)

    return load


def _analytics_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=dg.AssetKey(["flowsync", "analytics"]), group_name=GROUP, deps=upstream,
              description="the analytics tables (and sync_status), rebuilt as `flowsync "
                          "transform` does, after every account's load")
    def analytics(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with _logged(context) as notices:
            code = _rebuild()
        if code != Exit.OK:
            raise _fail(code, notices)
        return dg.MaterializeResult()

    return analytics


def _rebuild() -> Exit:
    destination = destination_or_exit(str(config.get("flowsync.destination")))
    return destination if isinstance(destination, Exit) else transform_watched(destination)


def build_defs(accounts: Callable[[], list[Account]] = configured) -> dg.Definitions:
    """The definitions for the accounts configured now (settings as `flowsync run` reads
    them); a bad setting raises, naming it, when Dagster loads the module."""
    loads = [_load_asset(a) for a in accounts()]
    every = [*loads, _analytics_asset([a.key for a in loads])]
    job = dg.define_asset_job(GROUP, selection=dg.AssetSelection.assets(*every))
    return dg.Definitions(assets=every, jobs=[job], schedules=[dg.ScheduleDefinition(
        name="flowsync_schedule", job=job, cron_schedule=str(config.get("flowsync.schedule")))])


defs = build_defs()
