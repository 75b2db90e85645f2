"""DuckDB: one local file, held for a whole command.

DuckDB lets one process write a file and no one else open it meanwhile, even read-only.
A command opens the file for writing once, when every other process has let go of it
(another run, a BI tool or notebook reading it), and every step uses that one connection:
dlt's loads (through parquet files) and the transforms (its cursors).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from sources import registry
from sources.errors import ConfigError, FlowsyncError, first_line
from sources.spec import memory_bytes
from transforms.runner import SCHEMA as ANALYTICS_SCHEMA
from transforms.warehouse import Params, Warehouse

from .. import config
from ..memory import DUCKDB_OPTIONS
from . import Destination, state_dir
from .duckdb_errors import duckdb_error, invalidation, original_error
from .duckdb_file import hold

log = logging.getLogger("flowsync.duckdb")
_ONE_WRITER = threading.RLock()
_WORD = r"(?<!\w){name}(?!\w)"  # a name as a whole word (a schema may stand before it)
NO_AUTOCHECKPOINT = "1TB"  # DuckDB's checkpoint_threshold while loading: ours follows
# in the state folder: a checkpoint within load_memory_limit failed (README: memory)
CAREFUL = "duckdb-checkpoint-within-memory-limit"
LOAD_THREADS = 1  # DuckDB's threads while dlt loads into the held file (`DuckDB._one_thread`)


class DuckDBWarehouse(Warehouse):
    row_id = "rowid"

    def _run(self, sql: str, params: Params = None) -> Any:
        # a duckdb cursor is a connection of its own, with its own transaction: statements
        # run on the connection itself
        if params:
            return self.conn.execute(sql.replace("%s", "?"), list(params))
        return self.conn.execute(sql)

    def dependents(self, schema: str, table: str) -> list[str]:
        """DuckDB keeps no dependency records: every view whose SQL names the table (one
        that merely mentions the name counts too: keeping a table is the safe mistake)."""
        pattern = re.compile(_WORD.format(name=re.escape(table)), re.IGNORECASE)
        return [f"{s}.{v}" for s, v, sql in self.rows(
            "select schema_name, view_name, sql from duckdb_views() where not internal "
            "order by 1, 2") if pattern.search(sql or "")]

    def json_elements(self, expr: str, key: str) -> str:
        return f"unnest(cast(json_extract({expr}, '$.{key}[*]') as json[]))"

    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """An Arrow table, scanned by DuckDB."""
        import pyarrow as pa

        data = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
        self.conn.register("flowsync_rows", data)
        try:
            self.execute(f"insert into {table} ({', '.join(columns)}) "
                         f"select {', '.join(columns)} from flowsync_rows")
        finally:
            self.conn.unregister("flowsync_rows")


@dataclass
class DuckDB(Destination):
    kind = "duckdb"
    loader_file_format = "parquet"
    # one job at a time within the load's memory limit: each append pins buffers of its
    # own, and five files of one table loading at once failed within 64MB (README: memory)
    load_workers = 1

    path: Path
    state_dir: Path
    options: dict[str, str] = field(default_factory=dict)  # given when the file is opened
    load_limit: str | None = None  # DuckDB's memory limit while dlt loads, where lower
    # while the file is held: the one connection every step uses
    connection: Any = field(default=None, repr=False)

    @property
    def label(self) -> str:  # type: ignore[override]
        return str(self.path)

    @property
    def fingerprint(self) -> str:
        return f"duckdb:{self.path}"

    def dlt_destination(self, staging: str) -> Any:
        if self.connection is None:  # (dlt's connection of each load checkpoints as it closes)
            return dlt.destinations.duckdb(
                DuckDbCredentials(str(self.path), global_config=dict(self.options)),
                staging_dataset_name_layout=staging)
        from .duckdb_jobs import checkpointing_duckdb  # (dlt's DuckDB client: at load time)

        return checkpointing_duckdb(DuckDbCredentials(self.connection),
                                    staging_dataset_name_layout=staging)

    def dbt_output(self, schema: str) -> tuple[dict[str, Any], dict[str, str]]:
        """dbt-duckdb on the same file with the same settings: in this process it shares
        the command's open database."""
        return {"type": "duckdb", "path": str(self.path), "schema": schema, "threads": 1,
                "config_options": dict(self.options)}, {}

    def load(self, pipeline: Any) -> list[str]:
        """dlt's load and a checkpoint of the held file, DuckDB's cache at `load_limit`.

        - The loads merge into tables that grow with the account, and DuckDB caches what
          they read up to its limit: a 1M-execution Twilio first load held 256MB of cache
          that a 10k one never fills.
        - DuckDB checkpoints when a connection closes; held open for the whole command, it
          kept every load's rows in its write-ahead log and memory.
        - Where DuckDB fails within `load_limit`, the file is noted (`CAREFUL`) and its
          later loads and checkpoints get the full `memory_limit`. A load DuckDB refused
          (one that does not fit fails its statement or its commit, rolled back; dlt keeps
          its jobs to retry) is loaded again at once within `memory_limit`: once, so an
          error that is not about memory fails again and stops the run. A checkpoint that
          does not fit is fatal (the database refuses every statement): the run stops,
          the next one gets past it."""
        if self.connection is None:
            return super().load(pipeline)
        with self.gate():
            if self.load_limit is None or self.careful.exists():
                return self._load(pipeline, reduced=False)
            try:
                with self._load_limit():
                    return self._load(pipeline, reduced=True)
            except FlowsyncError:
                raise
            except Exception as exc:
                invalid = invalidation(self.connection)
                if invalid is not None:  # inside dlt's load: a job's checkpoint (duckdb_jobs)
                    raise FlowsyncError(
                        f"DuckDB failed inside dlt's load into {self.path} within destination."
                        f"duckdb.load_memory_limit {self.load_limit}: {original_error(invalid)}. "
                        "The load is pending; later runs load this file within destination."
                        f"duckdb.memory_limit {self.options.get('memory_limit')}") from exc
                # a load DuckDB refused (its database still answers), whose jobs dlt kept
                if not (duckdb_error(exc) and pipeline.has_pending_data):
                    raise
            log.warning("%s: loading again within destination.duckdb.memory_limit %s",
                        self.path, self.options.get("memory_limit"))
            return self._load(pipeline, reduced=False)

    def _load(self, pipeline: Any, reduced: bool) -> list[str]:
        with self._one_thread():
            loads = super().load(pipeline)
            self._checkpoint(reduced)
        return loads

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB runs dlt's load and its checkpoint on one thread (`LOAD_THREADS`), then
        as many as before. A load's statements (a parquet file into a staging table, the
        merge, the checkpoint) took 0.3-0.55 CPU-s less at 20,000 Twilio executions
        (1.28 -> 0.95, 1.44 -> 0.89), wall no longer: on a small machine DuckDB's second
        thread competes with the sources' own."""
        (before,) = self.connection.execute("select current_setting('threads')").fetchone()
        self.connection.execute(f"set threads = {LOAD_THREADS}")
        try:
            yield
        finally:
            with suppress(Exception):  # (a database DuckDB invalidated refuses it)
                self.connection.execute(f"set threads = {int(before)}")

    @property
    def careful(self) -> Path:
        return self.state_dir / CAREFUL

    def _checkpoint(self, reduced: bool) -> None:
        import duckdb

        try:
            self.connection.execute("checkpoint")
        except duckdb.FatalException as exc:
            # DuckDB refuses every statement after this: say why, not "invalidated"
            limit = self.options.get("memory_limit")
            if reduced:
                raise FlowsyncError(
                    f"DuckDB could not checkpoint {self.path} within destination.duckdb."
                    f"load_memory_limit {self.load_limit}: {first_line(exc)}. The load is "
                    f"committed; later runs load this file within destination.duckdb."
                    f"memory_limit {limit}") from exc
            raise ConfigError(
                f"DuckDB could not checkpoint {self.path} within its memory limit "
                f"(destination.duckdb.memory_limit {limit}): {first_line(exc)}. The load "
                "is committed; raise the limit (DESTINATION__DUCKDB__MEMORY_LIMIT) and "
                "run again") from exc
        except duckdb.Error as exc:  # another thread's transaction: a later load's
            log.info("DuckDB checkpoint skipped: %s", first_line(exc))

    @contextmanager
    def _load_limit(self) -> Iterator[None]:
        """DuckDB's memory limit at `load_limit` inside, and no checkpoint of DuckDB's own
        at a commit (one that does not fit is as fatal); at `memory_limit` after. Where
        DuckDB fails inside, the file is noted as `careful`."""
        self._set_limit("destination.duckdb.load_memory_limit", self.load_limit)
        self.connection.execute(f"set checkpoint_threshold = '{NO_AUTOCHECKPOINT}'")
        try:
            yield
        except Exception as exc:
            cause = duckdb_error(exc) or invalidation(self.connection)
            if cause is not None:
                self.careful.parent.mkdir(parents=True, exist_ok=True)
                self.careful.write_text(f"{original_error(cause)}\n")
                log.warning("DuckDB failed within destination.duckdb.load_memory_limit %s "
                            "(%s); later loads of %s are within destination.duckdb."
                            "memory_limit %s (to try the lower limit again, delete %s)",
                            self.load_limit, original_error(cause), self.path,
                            self.options.get("memory_limit"), self.careful)
            with suppress(Exception):  # (a database DuckDB invalidated refuses it)
                self._full_limit()
            raise
        self._full_limit()

    def _full_limit(self) -> None:
        self.connection.execute("reset checkpoint_threshold")
        self._set_limit("destination.duckdb.memory_limit", self.options["memory_limit"])

    def _set_limit(self, key: str, value: str | None) -> None:
        import duckdb

        try:
            self.connection.execute(f"set memory_limit = '{str(value).replace(chr(39), '')}'")
        except duckdb.Error as exc:
            raise ConfigError(f"{key} {value!r}: {first_line(exc)}") from None

    def gate(self) -> Any:
        """One account's pipeline at a time on the command's one connection."""
        return _ONE_WRITER

    def warehouse(self) -> Warehouse:
        """On the held file, a cursor of the command's connection."""
        if self.connection is not None:
            return DuckDBWarehouse(self.connection.cursor())
        import duckdb

        return DuckDBWarehouse(duckdb.connect(str(self.path)))

    @contextmanager
    def _held(self, wait_seconds: float) -> Iterator[Destination]:
        with hold(str(self.path), wait_seconds, self.options,
                  self.state_dir / "locks" / "duckdb-holder") as conn:
            yield replace(self, connection=conn)

    def missing(self) -> str | None:
        if self.path.exists():
            return None
        return (f"no DuckDB warehouse at {self.path}; load one with `flowsync run` (or set "
                "DESTINATION__DUCKDB__CREDENTIALS)")


def duckdb_destination(path: str | None = None) -> DuckDB:
    """DuckDB at `path`, destination.duckdb.credentials, or flowsync.duckdb here."""
    raw = path or config.get("destination.duckdb.credentials")
    if not isinstance(raw, str):
        raise ConfigError("destination.duckdb.credentials must be a file path")
    if raw.strip() == ":memory:" or re.match(r"\s*(md|motherduck):", raw) or (
            "://" in raw and not raw.startswith("duckdb:///")):
        raise ConfigError("destination.duckdb.credentials must be a local DuckDB file path: "
                          "in-memory databases, MotherDuck (md:) and URLs are not supported "
                          "(a run's data would vanish, or go where flowsync cannot lock it)")
    file = Path(raw.removeprefix("duckdb:///")).expanduser().resolve()
    # duckdb names its catalog after the file; a dataset of the same name confuses its binder
    if file.stem in (*(s.dataset for s in registry.SOURCES), ANALYTICS_SCHEMA):
        raise ConfigError(f"DuckDB file name {file.name!r} clashes with dataset {file.stem!r}; "
                          "choose another name (e.g. flowsync.duckdb)")
    if not file.parent.is_dir():
        raise ConfigError(f"DuckDB file {file}: folder {file.parent} does not exist")
    limit = str(config.get("destination.duckdb.memory_limit"))
    load_limit = str(config.get("destination.duckdb.load_memory_limit"))
    return DuckDB(file, state_dir(file.with_name(file.name + ".state")),
                  {"memory_limit": limit, **DUCKDB_OPTIONS},
                  load_limit=load_limit if memory_bytes(load_limit) < memory_bytes(limit) else None)
