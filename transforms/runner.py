"""Builds the analytics tables from the SQL models in this folder, on DuckDB or Postgres.

Models are plain SQL files, one per table, in layers: `staging/` (rename, cast,
normalize), `intermediate/`, `marts/`. These placeholders are expanded:

- `{{ source('schema', 'table') }}`: a raw table, as a typed select of the columns the
  model's header declares (`-- source schema.table: col type, ...`); a missing column is
  NULL and a missing table (a source not configured) is an empty relation, so every
  model builds whatever subset of sources has been loaded;
- `{{ ref('model') }}`: another model's table: marts live in `analytics` (what analysts
  and BI tools read), staging and intermediate models in `analytics_internal`;
- `{{ name }}`: a variable (`VARIABLES`: the time zone, the Twilio outcome event lists),
  as SQL string literals; settings may set them;
- `{{ json_elements('expr', 'key') }}`: a FROM item, one row per element of the JSON
  array at `key` of `expr`, as each database spells it (`Warehouse.json_elements`).

Each model's rows replace the table's in one transaction (delete, insert, check): a
reader sees the old rows or the new, the table stays the same object (an analyst's view
on it and a DBA's grant keep working), and a table that fails its checks is rolled back,
never replacing a good one. `transforms.incremental` rebuilds only what changed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from graphlib import TopologicalSorter
from pathlib import Path

from .checks import CheckFailedError, check
from .contracts import comment_statements
from .warehouse import Warehouse

__all__ = ["BuildStoppedError", "CheckFailedError", "Model", "ModelResult",
           "Warehouse", "build", "check", "load_models", "render"]

log = logging.getLogger("flowsync.transforms")

ROOT = Path(__file__).resolve().parent
LAYERS = ("staging", "intermediate", "marts")
SCHEMA = "analytics"  # the marts: what analysts and BI tools read
INTERNAL_SCHEMA = "analytics_internal"  # staging and intermediate models, and new builds
# step events that end a Twilio execution with that outcome (the contract's defaults;
# sources.twilio_studio.timeout_events / failure_events override them)
VARIABLES: dict[str, str | Sequence[str]] = {
    "timeout_events": ("timeout",), "failure_events": ("failed", "fail", "deliveryFailure"),
    # the IANA zone in which every day is cut (analytics.timezone)
    "timezone": "UTC"}

_SOURCE = re.compile(r"\{\{\s*source\('(\w+)',\s*'(\w+)'\)\s*\}\}")
_REF = re.compile(r"\{\{\s*ref\('(\w+)'\)\s*\}\}")
_HEADER_SOURCE = re.compile(r"^-- source (\w+)\.(\w+):(.*)$")
_TYPES = {"text", "boolean", "bigint", "timestamptz", "double precision", "json"}
_JSON_ELEMENTS = re.compile(r"\{\{\s*json_elements\('([^']+)',\s*'(\w+)'\)\s*\}\}")

class BuildStoppedError(Exception):
    """The build was asked to stop; the tables built so far are swapped in, the rest kept."""


@dataclass
class Model:
    name: str
    layer: str
    sql: str
    refs: set[str] = field(default_factory=set)
    sources: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    # `-- materialized: view`: a row-by-row projection of one input, built as a view
    view: bool = False


@dataclass
class ModelResult:
    name: str
    rows: int | None  # None for a view (not counted: counting reads all it reads)
    seconds: float
    schema: str = SCHEMA


def load_models(root: Path = ROOT) -> list[Model]:
    """Every model, in dependency order."""
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            sql = path.read_text()
            model = Model(path.stem, layer, sql, set(_REF.findall(sql)), _declared_sources(path, sql),
                          "\n-- materialized: view\n" in f"\n{sql}")
            if model.name in models:
                raise ValueError(f"two models named {model.name}")
            for key in _SOURCE.findall(sql):
                if key not in model.sources:
                    raise ValueError(f"{path.name}: source {'.'.join(key)} has no `-- source` "
                                     "header declaring its columns")
            models[model.name] = model
    for model in models.values():
        unknown = model.refs - models.keys()
        if unknown:
            raise ValueError(f"{model.name}.sql refers to unknown models: {sorted(unknown)}")
    order = TopologicalSorter({m.name: m.refs for m in models.values()}).static_order()
    return [models[name] for name in order]


def _declared_sources(path: Path, sql: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    lines = sql.splitlines()
    for i, line in enumerate(lines):
        m = _HEADER_SOURCE.match(line)
        if not m:
            continue
        spec = m.group(3)
        for more in lines[i + 1:]:
            if not more.startswith("--   "):
                break
            spec += more[2:]
        columns = []
        for item in spec.split(","):
            name, _, type_ = item.strip().partition(" ")
            if type_.strip() not in _TYPES:
                raise ValueError(f"{path.name}: column {name} has unknown type {type_!r}")
            columns.append((name, type_.strip()))
        out[(m.group(1), m.group(2))] = columns
    return out


def _quote_list(values: Sequence[str]) -> str:
    if not values:
        return "null"  # `x in (null)` matches nothing
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _source_relation(wh: Warehouse, schema: str, table: str,
                     columns: list[tuple[str, str]], relation: str | None = None) -> str:
    present = wh.columns(schema, table)
    if present is None:
        cols = ", ".join(f"cast(null as {t}) as {c}" for c, t in columns)
        return f"(select {cols} where false) as src"
    cols = ", ".join(f"cast({c if c in present else 'null'} as {t}) as {c}" for c, t in columns)
    return f"(select {cols} from {relation or f'{schema}.{table}'} as raw) as src"


SYNC_LOG = f"{INTERNAL_SCHEMA}.sync_log"


def record_sync(wh: Warehouse, source: str, account: str, started_at: datetime, outcome: str,
                error: str | None, loaded: bool) -> None:
    """Notes one account's run in `analytics_internal.sync_log`, which `sync_status` reads."""
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    wh.execute(f"create table if not exists {SYNC_LOG} (source text, started_at timestamptz, "
               "outcome text, error text, loaded boolean, account text)")
    wh.execute(f"insert into {SYNC_LOG} (source, account, started_at, outcome, error, loaded) "
               "values (%s, %s, %s, %s, %s, %s)",
               (source, account, started_at, outcome, error, loaded))


def schema_of(model: Model) -> str:
    return SCHEMA if model.layer == "marts" else INTERNAL_SCHEMA


def render(model: Model, wh: Warehouse, variables: Mapping[str, Sequence[str]] | None = None,
           schemas: dict[str, str] | None = None,
           relations: Mapping[str, str] | None = None) -> str:
    """The model's SQL with every placeholder expanded for this warehouse. `relations`
    reads an input (a ref by name, a source as `schema.table`) from another relation with
    its columns (`transforms.incremental`: only some rows of it, or its changed rows)."""
    if schemas is None:
        schemas = {m.name: schema_of(m) for m in load_models()}
    relations = relations or {}
    sql = _SOURCE.sub(lambda m: _source_relation(wh, m.group(1), m.group(2),
                                                 model.sources[(m.group(1), m.group(2))],
                                                 relations.get(f"{m.group(1)}.{m.group(2)}")),
                      model.sql)

    def ref(m: re.Match) -> str:
        name = m.group(1)
        table = f"{schemas.get(name, SCHEMA)}.{name}"
        return f"{relations[name]} as {name}" if name in relations else table

    sql = _REF.sub(ref, sql)
    sql = _JSON_ELEMENTS.sub(lambda m: wh.json_elements(m.group(1), m.group(2)), sql)
    for name, values in {**VARIABLES, **(variables or {})}.items():
        sql = sql.replace("{{ " + name + " }}", _quote_list(
            [values] if isinstance(values, str) else values))
    return sql


def _publish(wh: Warehouse, model: Model, sql: str) -> None:
    """Replaces the model's rows with those `sql` makes, checked, in one transaction:
    readers see the old rows or the new, a table that fails its checks is rolled back, and
    the table stays the same object, so an analyst's view on it and a DBA's grant keep
    working. A table whose columns changed (a new flowsync version) is reshaped in place
    first (`_reshape`), never dropped."""
    schema = schema_of(model)
    target, probe = f"{schema}.{model.name}", f"{INTERNAL_SCHEMA}.{model.name}__flowsync_new"
    wh.execute(f"drop table if exists {probe}")
    wh.execute(f"create table {probe} as select * from (\n{sql}\n) as m where false")
    new_columns = wh.typed_columns(INTERNAL_SCHEMA, f"{model.name}__flowsync_new")
    names = ", ".join(c for c, _ in new_columns)
    if not wh.typed_columns(schema, model.name):
        wh.execute(f"create table {target} as select * from {probe}")
    wh.execute(f"drop table {probe}")
    with wh.transaction():
        _reshape(wh, schema, model.name, new_columns)
        wh.execute(f"delete from {target}")
        wh.execute(f"insert into {target} ({names}) select {names} from (\n{sql}\n) as m")
        check(wh, model.name, target)


def publish_view(wh: Warehouse, model: Model, sql: str) -> bool:
    """The model as a view (`-- materialized: view`), rebuilt in no time. A table of that
    name (an older release built every model as a table) is dropped first, unless views
    of the user's read it: then it stays a table, built as before (False)."""
    schema = schema_of(model)
    target = f"{schema}.{model.name}"
    if model.name in wh.tables(schema):
        if wh.dependents(schema, model.name):
            return False
        wh.execute(f"drop table {target}")
    try:
        wh.execute(f"create or replace view {target} as\n{sql}")
    except Exception:  # Postgres: the columns changed, which only a new view may
        wh.execute(f"drop view {target}")
        wh.execute(f"create view {target} as\n{sql}")
    return True


def _reshape(wh: Warehouse, schema: str, name: str, wanted: list[tuple[str, str]]) -> None:
    """Brings a published table's columns to `wanted` without replacing the table: new
    columns added, retyped ones altered; a column the model no longer makes is dropped,
    unless a view reads the table (then it stays, empty, rather than break the view)."""
    target = f"{schema}.{name}"
    have = dict(wh.typed_columns(schema, name))
    for column, type_ in wanted:
        if column not in have:
            wh.execute(f"alter table {target} add column {column} {type_}")
        elif have[column] != type_:
            wh.execute(f"alter table {target} alter column {column} type {type_}")
    gone = [c for c in have if c not in dict(wanted)]
    if gone and not wh.dependents(schema, name):
        for column in gone:
            wh.execute(f"alter table {target} drop column {column}")


def each_model(models: list[Model], should_stop: Callable[[], bool] | None,
               left: str) -> Iterator[Model]:
    """The models in order; BuildStoppedError (saying what is `left`) before the first one
    built after `should_stop` says so."""
    for model in models:
        if should_stop is not None and should_stop():
            raise BuildStoppedError(f"stopped before {schema_of(model)}.{model.name}; {left}")
        yield model


def build(wh: Warehouse, variables: Mapping[str, Sequence[str]] | None = None,
          models: list[Model] | None = None,
          should_stop: Callable[[], bool] | None = None) -> list[ModelResult]:
    """Builds every model in order, each checked and swapped in atomically.

    `should_stop` is asked before each model; when it says so, BuildStoppedError.
    """
    wh.execute(f"create schema if not exists {SCHEMA}")
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    every = load_models()
    models = models or every
    schemas = {m.name: schema_of(m) for m in [*every, *models]}
    results = []
    for model in each_model(models, should_stop,
                            "the tables built before it are new, the others as they were"):
        t0 = time.perf_counter()
        target = f"{schema_of(model)}.{model.name}"
        sql = render(model, wh, variables, schemas)
        rows = None
        if not (model.view and publish_view(wh, model, sql)):
            _publish(wh, model, sql)
            rows = wh.scalar(f"select count(*) from {target}")
        if schema_of(model) == SCHEMA:
            for statement in comment_statements(SCHEMA, model.name):
                wh.execute(statement)
        results.append(ModelResult(model.name, rows, time.perf_counter() - t0, schema_of(model)))
        log.debug("%s: %s rows (%.2f s)", target, rows, results[-1].seconds)
    return results
