"""The warehouse's side of `privacy.contact_address`: what it holds must match the mode.

The sources hash or drop addresses before anything is written (`sources.privacy`). What
the warehouse already holds is brought in line here, so no clear address stays beside
hashed ones:
- `reconcile`, before a run loads anything: the mode (and key) the warehouse was last
  written with is recorded in `analytics_internal.privacy`. A change that can be applied
  to the stored rows (keep -> hash, keep or hash -> drop, drop -> hash) is applied: clear
  addresses are hashed (in Python, the same HMAC) or nulled, names, emails, `meta` and
  `context` nulled, the quarantine's raw records scrubbed, dlt's staging tables too. A
  change that cannot (another key, or back to keep: a hash cannot be undone) is refused
  (exit 2) unless `privacy.rewrite` is set, which erases the stored addresses first.
- `settle`, after a run under hash or drop that completed a load an interrupted run had
  left pending (written before a change of mode, it may hold clear rows): the same pass.
  The runner marks the warehouse unchecked before completing such a load, so a run killed
  before `settle` leaves the pass to the next run's `reconcile`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sources import registry
from sources.privacy import NOTHING, Mode, Privacy
from sources.spec import RawTable, Source
from transforms.incremental import invalidate
from transforms.runner import INTERNAL_SCHEMA, SCHEMA, Warehouse

MARKER = f"{INTERNAL_SCHEMA}.privacy"
MAPPING = f"{INTERNAL_SCHEMA}.privacy_map"  # clear -> hashed, only while a pass runs
NOT_HASHED = "not ({c} ~ '^[0-9a-f]{{64}}$')"
BATCH = 50_000  # distinct addresses hashed at a time

def _column(path: str) -> str:
    """A record's field path as dlt names the column (`contact.phone` -> contact__phone)."""
    return path.replace(".", "__")


def _raw_tables(wh: Warehouse) -> Iterator[tuple[str, RawTable]]:
    """(dataset, table) of every raw table of every source, and dlt's staging copies (one
    staging schema per account: `<dataset>_staging`, `<dataset>_staging_<account>`)."""
    schemas = wh.schemas()
    for source in registry.SOURCES:
        staging = f"{source.dataset}_staging"
        for table in source.tables:
            for dataset in (source.dataset, *(s for s in schemas if s == staging
                                               or s.startswith(staging + "_"))):
                yield dataset, table


@dataclass
class Reconciled:
    """What `reconcile` did: values changed per column, or why it refused (exit 2)."""

    changed: dict[str, int] = field(default_factory=dict)
    problem: str | None = None


def recorded(wh: Warehouse) -> tuple[Mode, str, bool] | None:
    """The mode and key id the warehouse was last written with, and whether its rows were
    checked since (False: a pending load completed after); keep for a warehouse that holds
    raw data from before privacy existed; None for an empty one."""
    if wh.columns(INTERNAL_SCHEMA, "privacy") is not None:
        row = wh.rows(f"select mode, key_id, checked from {MARKER}")
        if row:
            return Mode(row[0][0]), row[0][1] or "", bool(row[0][2])
    if any(wh.columns(dataset, t.name) for dataset, t in _raw_tables(wh)):
        return Mode.KEEP, "", True
    return None


def reconcile(wh: Warehouse, privacy: Privacy, rewrite: bool) -> Reconciled:
    """Brings the stored rows in line with `privacy` before a run loads (see module)."""
    _no_mapping_left(wh)
    before = recorded(wh)
    if before is None:
        _record(wh, privacy)
        return Reconciled()
    mode, key_id, checked = before
    if (mode, key_id) == (privacy.mode, privacy.key_id):
        return Reconciled() if checked or privacy.keeps else settle(wh, privacy)
    applicable = mode is Mode.KEEP or privacy.mode is Mode.DROP or (
        mode is Mode.DROP and privacy.mode is Mode.HASH)
    if not applicable and not rewrite:
        what = ("privacy.hash_key changed" if mode is privacy.mode else
                f"privacy.contact_address changed from {mode} to {privacy.mode}")
        return Reconciled(problem=(
            f"{what}, but the warehouse holds addresses stored as {mode}, which cannot be "
            "converted (a hash cannot be undone or re-keyed). Set the previous value back, "
            "or set privacy.rewrite = true (PRIVACY__REWRITE=true) for one run to erase the "
            "stored addresses (null) and go on"))
    # the erase: what `drop` stores (the quarantine's old hashes too), then the new mode
    changed = {} if applicable else enforce(wh, Privacy(Mode.DROP))
    for column, n in settle(wh, privacy).changed.items():
        changed[column] = changed.get(column, 0) + n
    return Reconciled(changed)


def enforce(wh: Warehouse, privacy: Privacy) -> dict[str, int]:
    """Hashes or nulls every stored address not yet so, nulls personal columns, scrubs the
    quarantine; returns the values changed per column (nothing under keep)."""
    if privacy.mode is Mode.KEEP:
        return {}
    # rows are rewritten in place, under the load ids they had: the next rebuild is full
    invalidate(wh, "stored contact data was rewritten for privacy")
    changed: dict[str, int] = {}
    for table, addresses, personal in _tables(wh):
        for column in addresses:
            n = (_hash_column(wh, table, column, privacy) if privacy.mode is Mode.HASH
                 else _null_column(wh, table, column))
            if n:
                changed[f"{table}.{column}"] = n
        for column in personal:
            n = _null_column(wh, table, column)
            if n:
                changed[f"{table}.{column}"] = n
    # child tables (lists in a record, e.g. a Hilos execution's contact filters): emptied
    for dataset, t in _raw_tables(wh):
        for child in (f"{t.name}__{_column(p)}" for p in t.personal.personal):
            n = int(wh.scalar(f"select count(*) from {dataset}.{child}")
                    if wh.columns(dataset, child) is not None else 0)
            if n:
                wh.execute(f"delete from {dataset}.{child}")
                changed[f"{dataset}.{child} (rows)"] = n
    for source in registry.SOURCES:
        n = _scrub_quarantine(wh, source, privacy)
        if n:
            changed[f"{source.dataset}.quarantine.raw_record"] = n
    return changed


def _record(wh: Warehouse, privacy: Privacy) -> None:
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    wh.execute(f"create table if not exists {MARKER} (mode text, key_id text, "
               "set_at timestamptz, checked boolean)")
    with wh.transaction():
        wh.execute(f"delete from {MARKER}")
        wh.execute(f"insert into {MARKER} values (%s, %s, %s, true)",
                   (str(privacy.mode), privacy.key_id, datetime.now(UTC)))


def mark_unchecked(wh: Warehouse) -> None:
    """Before a pending load (maybe written in clear) completes: the next `reconcile`
    checks every stored row unless `settle` does first."""
    if wh.columns(INTERNAL_SCHEMA, "privacy") is not None:
        wh.execute(f"update {MARKER} set checked = false")


def settle(wh: Warehouse, privacy: Privacy) -> Reconciled:
    """The pass of `enforce` after pending loads completed; the warehouse checked again."""
    _no_mapping_left(wh)
    changed = enforce(wh, privacy)
    _record(wh, privacy)
    return Reconciled(changed)


def _tables(wh: Warehouse) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(table, address columns, personal columns) present in this warehouse: the raw
    tables and dlt's staging copies, and every analytics table with `contact_address`."""
    out = []
    for dataset, t in _raw_tables(wh):
        present = wh.columns(dataset, t.name)
        if present is None:
            continue
        prefixes = tuple(_column(p) for p in t.personal.personal)
        personal = tuple(sorted(c for c in present if prefixes and c.startswith(prefixes)))
        out.append((f"{dataset}.{t.name}",
                    tuple(c for c in map(_column, t.personal.addresses) if c in present),
                    personal))
    for schema, table in wh.rows(  # tables only: a view shows its tables' rows
            "select c.table_schema, c.table_name from information_schema.columns as c "
            "join information_schema.tables as t on t.table_schema = c.table_schema and "
            "t.table_name = c.table_name where c.column_name = 'contact_address' and "
            "t.table_type = 'BASE TABLE' and c.table_schema in (%s, %s) order by 1, 2",
            (SCHEMA, INTERNAL_SCHEMA)):
        out.append((f"{schema}.{table}", ("contact_address",), ()))
    return out


def _null_column(wh: Warehouse, table: str, column: str) -> int:
    n = wh.scalar(f"select count(*) from {table} where {column} is not null")
    if n:
        wh.execute(f"update {table} set {column} = null where {column} is not null")
    return int(n)


def _hash_column(wh: Warehouse, table: str, column: str, privacy: Privacy) -> int:
    """Replaces each clear value by its HMAC: the distinct clear values are read in sorted
    batches (bounded memory), their hashes bulk-loaded into a mapping table, then one
    update joins it. A value already hashed is left, so the pass can be repeated."""
    clear = f"{column} is not null and {NOT_HASHED.format(c=column)}"
    total = int(wh.scalar(f"select count(*) from {table} where {clear}"))
    if not total:
        return 0
    mapping = MAPPING
    wh.execute(f"create schema if not exists {INTERNAL_SCHEMA}")
    wh.execute(f"drop table if exists {mapping}")
    wh.execute(f"create table {mapping} (clear text, hashed text)")
    last: str | None = None
    while True:
        after = "" if last is None else f" and {column} > %s"
        values = [r[0] for r in wh.rows(f"select distinct {column} from {table} where "
                                        f"{clear}{after} order by 1 limit {BATCH}",
                                        None if last is None else (last,))]
        if not values:
            break
        wh.insert_rows(mapping, ("clear", "hashed"), [(v, privacy.address(v)) for v in values])
        last = values[-1]
    _apply_hashes(wh, table, column, mapping)
    wh.execute(f"drop table {mapping}")
    return total


def _apply_hashes(wh: Warehouse, table: str, column: str, mapping: str) -> None:
    wh.execute(f"update {table} as t set {column} = m.hashed from {mapping} as m "
               f"where t.{column} = m.clear")


def _no_mapping_left(wh: Warehouse) -> None:
    """The clear-to-hash table of a pass that was killed before it dropped it (after its
    last update, the next pass finds nothing to hash and would never get to it)."""
    wh.execute(f"drop table if exists {MAPPING}")


def _scrub_quarantine(wh: Warehouse, source: Source, privacy: Privacy) -> int:
    """The quarantine's raw records as they may be stored; returns how many changed."""
    schema = source.dataset
    if wh.columns(schema, "quarantine") is None:
        return 0
    fields = {t.name: t.personal for t in source.tables}
    changed = 0
    for resource, key, raw in wh.rows(f"select resource, record_key, raw_record "
                                      f"from {schema}.quarantine"):
        try:
            record = json.loads(raw) if raw is not None else None
        except ValueError:
            record = raw
        scrubbed = privacy.scrub(record, fields.get(resource, NOTHING))
        if scrubbed == record:
            continue
        text = json.dumps(scrubbed, sort_keys=True, default=str)
        wh.execute(f"update {schema}.quarantine set raw_record = %s "
                   "where resource = %s and record_key = %s", (text, resource, key))
        changed += 1
    return changed
