"""Rebuilds only what changed since the last rebuild, into exactly the tables a full
rebuild makes.

Every raw row carries the dlt load that wrote it (`_dlt_load_id`); a load is complete once
dlt notes it in the dataset's `_dlt_loads`. `built_loads` remembers the loads the analytics
were last built from (a sliding window of `WINDOW`), so the rows of the loads completed
since are what changed; each model follows its inputs' changes as its header says
(`transforms.changes`). The whole update is one transaction: a reader, or a run killed
half way, sees the analytics before it or after it, never a mix.

A full rebuild (`runner.build`) runs instead when there is no earlier build, when the
models or the settings they read changed (`fingerprint`), when asked, and after anything
rewrote raw rows in place (`invalidate`: privacy passes, layout upgrades, loads completed
after a crash).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .changes import Changes, Plan
from .runner import (
    INTERNAL_SCHEMA,
    ROOT,
    SCHEMA,
    VARIABLES,
    Model,
    ModelResult,
    build,
    each_model,
    load_models,
    schema_of,
)
from .warehouse import Warehouse

FORMAT = "1"  # how the state below is kept; a new format means one full rebuild
STATE = f"{INTERNAL_SCHEMA}.build_state"
LOADS = f"{INTERNAL_SCHEMA}.built_loads"
NEW_LOADS = f"{INTERNAL_SCHEMA}.flowsync_new_loads"
WINDOW = 30 * 86_400  # seconds of load ids remembered: a load completed later than that
# after the newest one built (a run crashed for a month) is caught by `invalidate`


@dataclass
class Built:
    """What a rebuild did: the models' results, and why it was full (None: incremental)."""

    results: list[ModelResult]
    full_because: str | None = None


def fingerprint(variables: Mapping[str, str | Sequence[str]] | None) -> str:
    """Changes when a model, a contract or a setting the models read changes."""
    digest = hashlib.sha256(FORMAT.encode())
    for path in sorted(ROOT.glob("*/*.*")):
        if path.suffix in (".sql", ".yml"):
            digest.update(f"{path.parent.name}/{path.name}\0".encode() + path.read_bytes())
    values = {k: [v] if isinstance(v, str) else list(v)
              for k, v in {**VARIABLES, **(variables or {})}.items()}
    digest.update(json.dumps(values, sort_keys=True).encode())
    return digest.hexdigest()


def _state_tables(wh: Warehouse) -> None:
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    wh.execute(f"create table if not exists {STATE} "
               "(fingerprint text, full_because text, built_at timestamptz)")
    wh.execute(f"create table if not exists {LOADS} (dataset text, load_id text)")


def invalidate(wh: Warehouse, because: str) -> None:
    """The next rebuild is a full one (raw rows were rewritten in place: `because`)."""
    _state_tables(wh)
    wh.execute(f"delete from {STATE}")
    wh.execute(f"insert into {STATE} values (null, %s, %s)", (because, datetime.now(UTC)))


def rebuild(wh: Warehouse, variables: Mapping[str, Sequence[str]] | None = None,
            should_stop: Callable[[], bool] | None = None, full: bool = False) -> Built:
    """Brings the analytics up to date: incrementally when it can, else in full."""
    models = load_models()
    plans = {m.name: Plan.of(m) for m in models}
    mark = fingerprint(variables)
    _state_tables(wh)
    because = "asked for" if full else _why_full(wh, mark, models)
    if because is None:
        return Built(_update(wh, models, plans, variables, should_stop))
    invalidate(wh, because)  # a full rebuild killed half way is done again in full
    loads = _complete_loads(wh, models)
    results = build(wh, variables, models, should_stop)
    with wh.transaction():
        wh.execute(f"delete from {LOADS}")
        for dataset, load_id in loads:
            wh.execute(f"insert into {LOADS} values (%s, %s)", (dataset, load_id))
        wh.execute(f"delete from {STATE}")
        wh.execute(f"insert into {STATE} values (%s, null, %s)", (mark, datetime.now(UTC)))
    return Built(results, because)


def _why_full(wh: Warehouse, mark: str, models: list[Model]) -> str | None:
    row = wh.rows(f"select fingerprint, full_because from {STATE}")
    if not row:
        return "no earlier build"
    if row[0][0] is None:
        return row[0][1] or "asked for"
    if row[0][0] != mark:
        return "the models or their settings changed"
    present = {f"{schema}.{name}" for schema in (SCHEMA, INTERNAL_SCHEMA)
               for name in (*wh.tables(schema), *wh.views(schema))}
    missing = [f"{schema_of(m)}.{m.name}" for m in models
               if f"{schema_of(m)}.{m.name}" not in present]
    return f"table {missing[0]} is missing" if missing else None


def _datasets(models: list[Model]) -> list[str]:
    return sorted({s for m in models for s, _ in m.sources})


def _complete_loads(wh: Warehouse, models: list[Model]) -> list[tuple[str, str]]:
    """(dataset, load id) of the complete loads within `WINDOW` of each dataset's newest."""
    out = []
    for dataset in _datasets(models):
        if wh.columns(dataset, "_dlt_loads") is None:
            continue
        newest = wh.scalar(f"select max(load_id) from {dataset}._dlt_loads where status = 0")
        if newest is not None:
            out += [(dataset, r[0]) for r in wh.rows(
                f"select distinct load_id from {dataset}._dlt_loads where status = 0 "
                "and load_id >= %s", (_cutoff(newest),))]
    return out


def _cutoff(newest: str) -> str:
    """The oldest load id still remembered: `WINDOW` before `newest` (load ids are unix
    times as text, with ten digits before the point until the year 2286)."""
    return f"{float(newest) - WINDOW:.6f}"


def _update(wh: Warehouse, models: list[Model], plans: Mapping[str, Plan],
            variables: Mapping[str, Sequence[str]] | None,
            should_stop: Callable[[], bool] | None) -> list[ModelResult]:
    """The incremental rebuild, in one transaction (see the module)."""
    schemas = {m.name: schema_of(m) for m in models}
    results = []
    with wh.transaction():
        _note_new_loads(wh, models)
        views = {m.name for m in models if m.view and m.name in wh.views(schemas[m.name])}
        changes = Changes(wh, views, NEW_LOADS, variables, schemas)
        for model in each_model(models, should_stop, "every analytics table is as it was"):
            t0 = time.perf_counter()
            rows = changes.follow(model, plans[model.name])
            if schemas[model.name] == SCHEMA:
                rows = wh.scalar(f"select count(*) from {SCHEMA}.{model.name}")
            results.append(ModelResult(model.name, rows, time.perf_counter() - t0,
                                       schemas[model.name]))
        changes.drop()
        _remember_new_loads(wh)
    return results


def _note_new_loads(wh: Warehouse, models: list[Model]) -> None:
    wh.execute(f"drop table if exists {NEW_LOADS}")
    wh.execute(f"create table {NEW_LOADS} (dataset text, load_id text)")
    for dataset in _datasets(models):
        if wh.columns(dataset, "_dlt_loads") is None:
            continue
        newest = wh.scalar(f"select max(load_id) from {LOADS} where dataset = %s", (dataset,))
        wh.execute(f"insert into {NEW_LOADS} select distinct %s, load_id from "
                   f"{dataset}._dlt_loads as l where status = 0 and load_id >= %s and not "
                   f"exists (select 1 from {LOADS} as b where b.dataset = %s and "
                   "b.load_id = l.load_id)",
                   (dataset, _cutoff(newest) if newest else "", dataset))


def _remember_new_loads(wh: Warehouse) -> None:
    wh.execute(f"insert into {LOADS} select dataset, load_id from {NEW_LOADS}")
    for dataset, newest in wh.rows(f"select dataset, max(load_id) from {NEW_LOADS} "
                                   "group by dataset"):
        wh.execute(f"delete from {LOADS} where dataset = %s and load_id < %s",
                   (dataset, _cutoff(newest)))
    wh.execute(f"drop table {NEW_LOADS}")
