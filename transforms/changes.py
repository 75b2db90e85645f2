"""How each model follows its inputs' changes, for the incremental rebuild
(`transforms.incremental`).

A model's header says it:
- `-- key: a, b`: the model's rows fall into parts by these columns; a part is rebuilt
  from the inputs' rows of that part alone, and no part is rebuilt that did not change;
- `-- by INPUT: x, y`: the input's columns that equal the key (the input is read only for
  the parts rebuilt, and a changed row of it changes its part);
- `-- lookup INPUT: c, d`: a small input looked up by these columns, which the model has
  too (read whole; a changed row of it changes the parts of the model's rows it matches);
- `-- covered: INPUT, ...`: inputs whose changes always come with a change of another input
  of the model (their changes are left to that one);
- `-- union`: each row is a row of one of its inputs (all `by`, keyed alike, no key in
  two of them): a part is read from the changed rows of the input it changed in, without
  reading the other inputs;
- `-- materialized: view`: a row-by-row projection of its one input (no joins, no
  grouping); nothing to rebuild, and its changed rows are the view of its input's.

A model with no key, or with a changed input it does not name, is rebuilt whole when an
input changed. What changed in a model (its old and new rows of the parts rebuilt; for a
model rebuilt whole, the rows added or gone) is what its dependents follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .checks import check
from .runner import INTERNAL_SCHEMA, Model, render
from .warehouse import Warehouse

ALL = "all"  # every row of the input may have changed
Variables = Mapping[str, Sequence[str]] | None

_KEY = re.compile(r"^-- key: (.*)$", re.M)
_INPUT = re.compile(r"^-- (by|lookup) ([\w.]+): (.*)$", re.M)
_COVERED = re.compile(r"^-- covered: (.*)$", re.M)
_UNION = re.compile(r"^-- union$", re.M)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def inputs(model: Model) -> set[str]:
    """The refs (by name) and sources (`schema.table`) the model reads."""
    return {*model.refs, *(f"{s}.{t}" for s, t in model.sources)}


@dataclass(frozen=True)
class Plan:
    """How a model follows its inputs' changes (its header; see the module)."""

    key: tuple[str, ...] = ()
    by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lookup: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    covered: frozenset[str] = frozenset()
    union: bool = False

    @classmethod
    def of(cls, model: Model) -> Plan:
        key = _KEY.search(model.sql)
        found: dict[str, dict[str, tuple[str, ...]]] = {"by": {}, "lookup": {}}
        for kind, name, cols in _INPUT.findall(model.sql):
            found[kind][name] = _names(cols)
        covered = frozenset(n for m in _COVERED.findall(model.sql) for n in _names(m))
        plan = cls(_names(key.group(1)) if key else (), found["by"], found["lookup"], covered,
                   bool(_UNION.search(model.sql)))
        unknown = ({*plan.by, *plan.lookup, *plan.covered} - inputs(model))
        if unknown or any(len(c) != len(plan.key) for c in plan.by.values()):
            raise ValueError(f"{model.name}.sql: its incremental header names "
                             f"{sorted(unknown) or 'a by input whose columns are not the key'}")
        if model.view and (len(inputs(model)) != 1 or set(plan.by) != inputs(model)):
            raise ValueError(f"{model.name}.sql: a view reads one input, by its key")
        if plan.union and set(plan.by) != inputs(model):
            raise ValueError(f"{model.name}.sql: a union reads every input by its key")
        return plan


class _SourceColumns:
    """The warehouse, with each raw table's columns read once per update (every model's
    SQL asks for them, `runner.render`)."""

    def __init__(self, wh: Warehouse) -> None:
        self._wh, self._seen = wh, {}

    def columns(self, schema: str, table: str) -> set[str] | None:
        if (schema, table) not in self._seen:
            self._seen[schema, table] = self._wh.columns(schema, table)
        return self._seen[schema, table]

    def __getattr__(self, name: str) -> object:
        return getattr(self._wh, name)


class Changes:
    """What changed so far in one update, per input: a query of its changed rows, ALL, or
    absent (nothing changed). Scratch tables live in analytics_internal, dropped before
    the transaction that made them ends (no other session ever sees them)."""

    def __init__(self, wh: Warehouse, views: set[str], new_loads: str,
                 variables: Variables, schemas: dict[str, str]) -> None:
        self.wh, self.views, self.new_loads = wh, views, new_loads
        self.reader: Warehouse = _SourceColumns(wh)  # type: ignore[assignment]
        self.variables, self.schemas = variables, schemas
        self.changed: dict[str, str | None] = {}
        self.current: dict[str, str] = {}  # the rows now, of the parts that changed
        self.made: dict[str, str] = {}  # scratch table by the query that filled it
        self.nulls: dict[tuple[str, str], bool] = {}
        for table in wh.tables(INTERNAL_SCHEMA):  # left by a bug, never by a kill: the
            if "__flowsync_" in table:             # transaction drops them or rolls back
                wh.execute(f"drop table {INTERNAL_SCHEMA}.{table}")

    def _table(self, name: str, sql: str) -> str:
        """A scratch table of `sql`'s rows; the same query twice makes one table (two
        models with the same key and input read the same part of it once)."""
        if sql not in self.made:
            table = f"{INTERNAL_SCHEMA}.{name}"
            self.wh.execute(f"create table {table} as {sql}")
            self.made[sql] = table
        return self.made[sql]

    def drop(self) -> None:
        for table in self.made.values():
            self.wh.execute(f"drop table if exists {table}")

    def of(self, name: str) -> str | None:
        """The changed rows of an input (model or raw table), None when none changed."""
        if name in self.changed or "." not in name:
            return self.changed.get(name)
        schema, table = name.split(".")
        columns = self.wh.columns(schema, table)
        query: str | None = None
        if columns is not None and "_dlt_load_id" not in columns:
            query = ALL  # not loaded by dlt (the sync log): always new
        elif columns is not None:
            rows = self._table(f"{schema}_{table}__flowsync_changed",
                               f"select * from {name} where _dlt_load_id in (select load_id "
                               f"from {self.new_loads} where dataset = '{schema}')")
            if self.wh.scalar(f"select count(*) from {rows}"):
                query = self.current[name] = f"select * from {rows}"
        self.changed[name] = query
        return query

    def follow(self, model: Model, plan: Plan) -> int:
        """Brings the model up to date with its inputs' changes; the rows it wrote."""
        changed = {i: q for i in sorted(inputs(model) - plan.covered)
                   if (q := self.of(i)) is not None}
        target = f"{self.schemas[model.name]}.{model.name}"
        if model.name in self.views:
            return self._view(model, plan, changed, target)
        if not changed:
            return 0
        whole = not plan.key or any(q == ALL or (i not in plan.by and i not in plan.lookup)
                                    for i, q in changed.items())
        relations = {}
        if not whole:
            parts = [f"select {self._values(plan.by[i])} from ({q}) as c"
                     for i, q in changed.items() if i in plan.by]
            parts += [f"select {self._values(plan.key, 'm.')} from {target} as m where exists ("
                      f"select 1 from ({q}) as c where {self._same(plan.lookup[i], q, 'c', 'm')})"
                      for i, q in changed.items() if i in plan.lookup]
            keys = self._table(f"{model.name}__flowsync_keys",
                               "select distinct * from (" + " union all ".join(parts) + ") as k")
            if plan.union and set(changed) <= set(self.current):
                relations = {i: f"({self.current[i]})" if i in changed else
                             f"(select * from {self._relation(i)} where false)" for i in plan.by}
            else:
                relations = {i: self._table(f"{model.name}__flowsync_in{n}",
                                            f"select * from {self._relation(i)} where "
                                            f"{self._match(keys, cols)}")
                             for n, (i, cols) in enumerate(sorted(plan.by.items()))}
        fresh = self._table(f"{model.name}__flowsync_new", render(
            model, self.reader, self.variables, self.schemas, relations))
        check(self.wh, model.name, fresh)
        names = ", ".join(c for c, _ in self.wh.typed_columns(*fresh.split(".")))
        if whole:
            self.changed[model.name] = ALL if plan.key else self._difference(model, fresh, target)
            self.wh.execute(f"delete from {target}")
        else:
            touched = self._table(f"{model.name}__flowsync_touched",
                                  f"select {names} from {target} where false")
            self.wh.move_rows(target, self._match(keys, plan.key), touched, names)
            self.wh.execute(f"insert into {touched} ({names}) select {names} from {fresh}")
            self.changed[model.name] = f"select * from {touched}"
            self.current[model.name] = f"select * from {fresh}"
        self.wh.execute(f"insert into {target} ({names}) select {names} from {fresh}")
        return int(self.wh.scalar(f"select count(*) from {fresh}"))

    def _view(self, model: Model, plan: Plan, changed: dict[str, str], target: str) -> int:
        """A view is made anew (a raw column may have appeared since); its changed rows
        are the view of its input's changed rows (old and new)."""
        self.wh.execute(f"create or replace view {target} as\n"
                        f"{render(model, self.reader, self.variables, self.schemas)}")
        if changed:
            (name, query), = changed.items()
            self.changed[model.name] = ALL if query == ALL else render(
                model, self.reader, self.variables, self.schemas, {name: f"({query})"})
            if name in self.current:
                self.current[model.name] = render(model, self.reader, self.variables,
                                                  self.schemas, {name: f"({self.current[name]})"})
        return 0

    def _relation(self, name: str) -> str:
        return name if "." in name else f"{self.schemas[name]}.{name}"

    @staticmethod
    def _values(columns: Sequence[str], alias: str = "") -> str:
        return ", ".join(f"{alias}{c} as flowsync_k{i}" for i, c in enumerate(columns))

    def _match(self, keys: str, columns: Sequence[str]) -> str:
        """True for a row whose `columns` are a key in the table `keys`: `in` (the fastest
        semi-join on both databases), or, when a key holds nulls, null-safe `exists`."""
        ks = [f"flowsync_k{i}" for i in range(len(columns))]
        if not any(self._has_nulls(keys, k) for k in ks):
            return f"({', '.join(columns)}) in (select {', '.join(ks)} from {keys})"
        return (f"exists (select 1 from {keys} as flowsync_keys where " + " and ".join(
            self._equal(keys, k, f"flowsync_keys.{k}", c) for k, c in zip(ks, columns, strict=True))
            + ")")

    def _same(self, columns: Sequence[str], rows: str, a: str, b: str) -> str:
        return " and ".join(self._equal(f"({rows}) as r", f"r.{c}", f"{a}.{c}", f"{b}.{c}")
                            for c in columns)

    def _equal(self, relation: str, column: str, a: str, b: str) -> str:
        """`a` equals `b`, null-safe when `column` of `relation` (a's side) holds nulls;
        otherwise a plain equality, which both databases hash (`is not distinct from` is a
        nested loop on Postgres)."""
        return f"{a} is not distinct from {b}" if self._has_nulls(relation, column) else f"{a} = {b}"

    def _has_nulls(self, relation: str, column: str) -> bool:
        if (relation, column) not in self.nulls:
            self.nulls[relation, column] = bool(self.wh.scalar(
                f"select count(*) from {relation} where {column} is null"))
        return self.nulls[relation, column]

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
