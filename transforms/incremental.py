"""Rebuilds only what changed since the last rebuild, into exactly the tables a full
rebuild makes.

Every raw row carries the dlt load that wrote it (`_dlt_load_id`); a load is complete once
dlt notes it in the dataset's `_dlt_loads`. `built_loads` remembers the loads the analytics
were last built from (a sliding window of `WINDOW`), so the rows of the loads completed
since are what changed. Each model says in its header how its rows follow its inputs:

- `-- key: a, b`: the model's rows fall into parts by these columns; a part is rebuilt
  from the inputs' rows of that part alone, and no part is rebuilt that did not change;
- `-- by INPUT: x, y`: the input's columns that equal the key (the input is read only for
  the parts rebuilt, and a changed row of it changes its part);
- `-- lookup INPUT: c, d`: a small input looked up by these columns, which the model has
  too (read whole; a changed row of it changes the parts of the model's rows it matches);
- `-- covered: INPUT, ...`: inputs whose changes always come with a change of another input
  of the model (their changes are left to that one).

A model with no key, or with a changed input it does not name, is rebuilt whole (when an
input changed). What changed in each model (its old and new rows of the parts rebuilt)
is what its dependents follow. The whole update is one transaction: a reader, or a run
killed half way, sees the analytics before it or after it, never a mix.

A full rebuild (`runner.build`) runs instead when there is no earlier build, when the
models or the settings they read changed (`fingerprint`), when asked, and after anything
rewrote raw rows in place (`invalidate`: privacy passes, layout upgrades, loads completed
after a crash).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .checks import check
from .runner import (
    INTERNAL_SCHEMA,
    ROOT,
    SCHEMA,
    VARIABLES,
    BuildStoppedError,
    Model,
    ModelResult,
    build,
    load_models,
    render,
    schema_of,
)
from .warehouse import Warehouse

FORMAT = "1"  # how the state below is kept; a new format means one full rebuild
STATE = f"{INTERNAL_SCHEMA}.build_state"
LOADS = f"{INTERNAL_SCHEMA}.built_loads"
NEW_LOADS = f"{INTERNAL_SCHEMA}.flowsync_new_loads"
WINDOW = 30 * 86_400  # seconds of load ids remembered: a load completed later than that
# after the newest one built (a run crashed for a month) is caught by `invalidate`
ALL = "all"  # every row of a model may have changed

_KEY = re.compile(r"^-- key: (.*)$", re.M)
_INPUT = re.compile(r"^-- (by|lookup) ([\w.]+): (.*)$", re.M)
_COVERED = re.compile(r"^-- covered: (.*)$", re.M)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


@dataclass(frozen=True)
class Plan:
    """How a model follows its inputs' changes (its header; see the module)."""

    key: tuple[str, ...] = ()
    by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lookup: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    covered: frozenset[str] = frozenset()

    @classmethod
    def of(cls, model: Model) -> Plan:
        key = _KEY.search(model.sql)
        found: dict[str, dict[str, tuple[str, ...]]] = {"by": {}, "lookup": {}}
        for kind, name, cols in _INPUT.findall(model.sql):
            found[kind][name] = _names(cols)
        covered = frozenset(n for m in _COVERED.findall(model.sql) for n in _names(m))
        plan = cls(_names(key.group(1)) if key else (), found["by"], found["lookup"], covered)
        unknown = ({*plan.by, *plan.lookup, *plan.covered} - inputs(model))
        if unknown or any(len(c) != len(plan.key) for c in plan.by.values()):
            raise ValueError(f"{model.name}.sql: its incremental header names "
                             f"{sorted(unknown) or 'a by input whose columns are not the key'}")
        return plan


def inputs(model: Model) -> set[str]:
    return {*model.refs, *(f"{s}.{t}" for s, t in model.sources)}


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
    wh.execute("begin")
    wh.execute(f"delete from {LOADS}")
    for dataset, load_id in loads:
        wh.execute(f"insert into {LOADS} values (%s, %s)", (dataset, load_id))
    wh.execute(f"delete from {STATE}")
    wh.execute(f"insert into {STATE} values (%s, null, %s)", (mark, datetime.now(UTC)))
    wh.execute("commit")
    return Built(results, because)


def _why_full(wh: Warehouse, mark: str, models: list[Model]) -> str | None:
    row = wh.rows(f"select fingerprint, full_because from {STATE}")
    if not row:
        return "no earlier build"
    if row[0][0] is None:
        return row[0][1] or "asked for"
    if row[0][0] != mark:
        return "the models or their settings changed"
    missing = [f"{schema_of(m)}.{m.name}" for m in models
               if wh.columns(schema_of(m), m.name) is None]
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
    wh.execute("begin")
    try:
        _note_new_loads(wh, models)
        changes = _Changes(wh)
        results = []
        for model in models:
            if should_stop is not None and should_stop():
                raise BuildStoppedError(f"stopped before {schemas[model.name]}.{model.name}; "
                                        "every analytics table is as it was")
            t0 = time.perf_counter()
            rows = changes.follow(model, plans[model.name], variables, schemas)
            if schemas[model.name] == SCHEMA:
                rows = wh.scalar(f"select count(*) from {SCHEMA}.{model.name}")
            results.append(ModelResult(model.name, rows, time.perf_counter() - t0,
                                       schemas[model.name]))
        changes.drop()
        _remember_new_loads(wh)
        wh.execute("commit")
    except BaseException:
        wh.execute("rollback")
        raise
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


def _norm(columns: Sequence[str], alias: str = "") -> str:
    """The key's columns as comparable, null-safe values (text and is-null flags)."""
    return ", ".join(f"coalesce(cast({alias}{c} as text), '') as flowsync_k{i}, "
                     f"({alias}{c} is null) as flowsync_n{i}" for i, c in enumerate(columns))


def _match(keys: str, columns: Sequence[str]) -> str:
    """True for a row whose `columns` are a key in the table `keys`."""
    return f"exists (select 1 from {keys} as flowsync_keys where " + " and ".join(
        f"flowsync_keys.flowsync_k{i} = coalesce(cast({c} as text), '') and "
        f"flowsync_keys.flowsync_n{i} = ({c} is null)" for i, c in enumerate(columns)) + ")"


def _same(columns: Sequence[str], a: str, b: str) -> str:
    return " and ".join(f"coalesce(cast({a}.{c} as text), '') = coalesce(cast({b}.{c} as text), "
                        f"'') and ({a}.{c} is null) = ({b}.{c} is null)" for c in columns)


class _Changes:
    """What changed so far in this update, per input: a query of its changed rows, ALL,
    or absent (nothing changed). Scratch tables live in analytics_internal, dropped at the
    end of the transaction that made them (no other session ever sees them)."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.changed: dict[str, str] = {}
        self.scratch: list[str] = []

    def _table(self, name: str, sql: str) -> str:
        table = f"{INTERNAL_SCHEMA}.{name}"
        self.wh.execute(f"drop table if exists {table}")
        self.wh.execute(f"create table {table} as {sql}")
        self.scratch.append(table)
        return table

    def drop(self) -> None:
        for table in self.scratch:
            self.wh.execute(f"drop table if exists {table}")

    def of(self, name: str) -> str | None:
        """The changed rows of an input (model or raw table), None when none changed."""
        if name in self.changed or "." not in name:
            return self.changed.get(name)
        schema, table = name.split(".")
        columns = self.wh.columns(schema, table)
        if columns is None:
            query = None
        elif "_dlt_load_id" not in columns:  # not loaded by dlt (the sync log): always new
            query = ALL
        else:
            query = (f"select * from {name} where _dlt_load_id in (select load_id from "
                     f"{NEW_LOADS} where dataset = '{schema}')")
            if not self.wh.scalar(f"select exists ({query})"):
                query = None
        self.changed[name] = query
        return query

    def follow(self, model: Model, plan: Plan, variables: Mapping[str, Sequence[str]] | None,
               schemas: dict[str, str]) -> int:
        """Brings the model up to date with its inputs' changes; the rows it wrote."""
        changed = {i: q for i in sorted(inputs(model) - plan.covered)
                   if (q := self.of(i)) is not None}
        if not changed:
            return 0
        target = f"{schemas[model.name]}.{model.name}"
        whole = not plan.key or any(q == ALL or (i not in plan.by and i not in plan.lookup)
                                    for i, q in changed.items())
        filters = {}
        if not whole:
            parts = [f"select {_norm(plan.by[i])} from ({q}) as c" for i, q in changed.items()
                     if i in plan.by]
            parts += [f"select {_norm(plan.key, 'm.')} from {target} as m where exists ("
                      f"select 1 from ({q}) as c where {_same(plan.lookup[i], 'c', 'm')})"
                      for i, q in changed.items() if i in plan.lookup]
            keys = self._table(f"{model.name}__flowsync_keys",
                               "select distinct * from (" + " union all ".join(parts) + ") as k")
            filters = {i: _match(keys, cols) for i, cols in plan.by.items()}
        fresh = self._table(f"{model.name}__flowsync_new",
                            render(model, self.wh, variables, schemas, filters))
        check(self.wh, model.name, fresh)
        columns = [c for c, _ in self.wh.typed_columns(*fresh.split("."))]
        names = ", ".join(columns)
        if whole:
            self.changed[model.name] = ALL if plan.key else self._difference(model, fresh, target)
            self.wh.execute(f"delete from {target}")
        else:
            where = _match(keys, plan.key)
            touched = self._table(f"{model.name}__flowsync_touched",
                                  f"select {names} from {target} where {where}")
            self.wh.execute(f"insert into {touched} ({names}) select {names} from {fresh}")
            self.changed[model.name] = f"select * from {touched}"
            self.wh.execute(f"delete from {target} where {where}")
        self.wh.execute(f"insert into {target} ({names}) select {names} from {fresh}")
        return int(self.wh.scalar(f"select count(*) from {fresh}"))

    def _difference(self, model: Model, fresh: str, target: str) -> str | None:
        """The rows of a model rebuilt whole that are new or gone (JSON compared as text)."""
        typed = self.wh.typed_columns(*fresh.split("."))
        cols = ", ".join(f"cast({c} as text) as {c}" if t.lower() == "json" else c
                         for c, t in typed)
        table = self._table(
            f"{model.name}__flowsync_touched",
            f"select * from (select {cols} from {fresh} except all select {cols} from "
            f"{target}) as added union all select * from (select {cols} from {target} "
            f"except all select {cols} from {fresh}) as removed")
        return f"select * from {table}" if self.wh.scalar(f"select count(*) from {table}") else None
