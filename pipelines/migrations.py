"""The warehouse's layout, versioned: every command that writes brings an older one up to
date before it does anything else.

`analytics_internal.flowsync_layout` records each step applied (its number, name, when,
and by which flowsync). A warehouse without that table was written by a release from
before it (or by none): every step runs, each one idempotent, so a warehouse of any age,
or one whose upgrade was killed half way, ends in the same layout. A step is recorded
only once it is done; running it again is harmless.

Each release that changes what flowsync writes appends a step here and an upgrade test
from the release before (tests/pipelines/test_upgrade.py). Steps so far:

1. raw rows carry `_dlt_load_id` (7f7a917 loaded without it; dlt would add it NOT NULL
   to tables that have rows, which both databases refuse): added nullable, backfilled with
   the dataset's last completed load.
2. the staging and intermediate models live in `analytics_internal` (7f7a917 built them
   in `analytics`): the old copies are dropped, unless a user's view reads one; then it is
   left as it is, no longer refreshed, and a notice names the view and the replacement.
3. no key twice in a raw table: copies a repeated page loaded before pages were checked
   (a Twilio Steps page whose next link named itself) are removed, the newest kept.
4. every raw row and sync note names its account (927d0ea and before had one account per
   source): column `account` added, its rows account `default`, whose pipeline is the
   one those releases ran, so nothing is fetched again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sources import registry
from transforms.incremental import invalidate
from transforms.runner import INTERNAL_SCHEMA, SCHEMA, load_models, schema_of
from transforms.warehouse import Warehouse

from . import __version__

LAYOUT = f"{INTERNAL_SCHEMA}.flowsync_layout"
DATASETS = [source.dataset for source in registry.SOURCES]


@dataclass
class Migrated:
    """What `migrate` did: the steps applied, what the user should know, or why it refused."""

    applied: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    problem: str | None = None
    upgraded: bool = False  # the warehouse held flowsync's tables before (not a new one)


def _raw_load_ids(wh: Warehouse) -> list[str]:
    for dataset in DATASETS:
        last = None
        if wh.columns(dataset, "_dlt_loads") is not None:
            last = wh.scalar(f"select max(load_id) from {dataset}._dlt_loads where status = 0")
        for schema in (dataset, f"{dataset}_staging"):
            for table in wh.tables(schema):
                if table.startswith("_dlt") or "_dlt_load_id" in (wh.columns(schema, table) or ()):
                    continue
                wh.execute(f"alter table {schema}.{table} add column _dlt_load_id text")
                if last is not None and schema == dataset:
                    wh.execute(f"update {schema}.{table} set _dlt_load_id = %s", (last,))
    return []


def _internal_models_moved(wh: Warehouse) -> list[str]:
    notices = []
    for model in load_models():
        wh.execute(f"drop table if exists {SCHEMA}.{model.name}__flowsync_new")
        if schema_of(model) == SCHEMA or wh.columns(SCHEMA, model.name) is None:
            continue
        views = wh.dependents(SCHEMA, model.name)
        if not views:
            wh.execute(f"drop table {SCHEMA}.{model.name}")
            continue
        notices.append(
            f"{SCHEMA}.{model.name} is no longer refreshed: flowsync builds it as "
            f"{INTERNAL_SCHEMA}.{model.name} now (or read {SCHEMA}.flow_runs). It is left in "
            f"place because {', '.join(views)} read(s) it; point them at the new table, "
            "then drop it")
    return notices


def _no_key_twice(wh: Warehouse) -> list[str]:
    notices = []
    for source in registry.SOURCES:
        for table in source.tables:
            key, dataset = table.key, source.dataset
            columns = wh.columns(dataset, table.name)
            if columns is None:
                continue
            name = f"{dataset}.{table.name}"
            twice = wh.scalar(f"select count(*) - count(distinct {key}) from {name}")
            if not twice:
                continue
            newest = "_dlt_load_id desc nulls last, " if "_dlt_load_id" in columns else ""
            rid = wh.row_id
            wh.execute(f"delete from {name} where {rid} in (select {rid} from (select {rid}, "
                       f"row_number() over (partition by {key} order by {newest}{rid} desc) "
                       f"as n from {name}) as ranked where n > 1)")
            notices.append(f"{name}: {twice:,} repeated row(s) removed (one copy of each "
                           f"{key} kept)")
    return notices


def _accounts(wh: Warehouse) -> list[str]:
    for dataset in DATASETS:
        staging = [s for s in wh.schemas() if s == f"{dataset}_staging"
                   or s.startswith(f"{dataset}_staging_")]
        for schema in (dataset, *staging):
            for table in wh.tables(schema):
                if table.startswith("_dlt") or "account" in (wh.columns(schema, table) or ()):
                    continue
                wh.execute(f"alter table {schema}.{table} add column account text")
                wh.execute(f"update {schema}.{table} set account = 'default'")
    log = f"{INTERNAL_SCHEMA}.sync_log"
    columns = wh.columns(INTERNAL_SCHEMA, "sync_log")
    if columns is not None and "account" not in columns:
        wh.execute(f"alter table {log} add column account text")
        wh.execute(f"update {log} set account = 'default'")
    return []


STEPS: tuple[tuple[int, str, Callable[[Warehouse], list[str]]], ...] = (
    (1, "raw rows carry _dlt_load_id", _raw_load_ids),
    (2, "staging and intermediate models in analytics_internal", _internal_models_moved),
    (3, "no key twice in a raw table", _no_key_twice),
    (4, "every row names its account", _accounts),
)
LATEST = STEPS[-1][0]


def applied(wh: Warehouse) -> set[int]:
    if wh.columns(INTERNAL_SCHEMA, "flowsync_layout") is None:
        return set()
    return {int(r[0]) for r in wh.rows(f"select version from {LAYOUT}")}


def migrate(wh: Warehouse) -> Migrated:
    """Applies every step this warehouse lacks, in order (see the module)."""
    done = applied(wh)
    if done and max(done) > LATEST:
        return Migrated(problem=(
            f"the warehouse was written by a newer flowsync (layout {max(done)}; this one "
            f"knows up to {LATEST}): upgrade flowsync to use it"))
    result = Migrated()
    missing = [s for s in STEPS if s[0] not in done]
    if not missing:
        return result
    result.upgraded = any(wh.tables(schema) for schema in (*DATASETS, SCHEMA))
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    wh.execute(f"create table if not exists {LAYOUT} (version bigint, step text, "
               "applied_at timestamptz, flowsync text)")
    if result.upgraded:  # steps rewrite raw rows in place: no load id says which
        invalidate(wh, "the warehouse's layout was upgraded")
    for version, name, step in missing:
        result.notices += step(wh)
        wh.execute(f"insert into {LAYOUT} values (%s, %s, %s, %s)",
                   (version, name, datetime.now(UTC), __version__))
        result.applied.append(name)
    return result
