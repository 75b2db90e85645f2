"""Where data goes: everything that differs between DuckDB and Postgres, one class each
behind one interface (`Destination`), resolved from configuration and checked before use.

A command opens one `session`: it waits its turn for the warehouse (the lock), watches it
for hangs, and yields the destination to use meanwhile; every connection comes from
`warehouse()`. Outside this package nothing asks which kind a warehouse is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from sources.errors import ConfigError
from transforms.warehouse import Warehouse

from .. import config
from .stored_state import keep_newest_state

KINDS = ("duckdb", "postgres")


class Destination(ABC):
    """A warehouse as configured: the dlt destination, connections, the command's hold on
    it, and a description without secrets (`label`)."""

    kind: ClassVar[str]
    # how dlt stages rows for it (measured, README): parquet loads DuckDB 3.6x faster than
    # dlt's default insert path; COPY (csv) edges out inserts on Postgres
    loader_file_format: ClassVar[str]
    # dlt's load jobs (a file each) at once: dlt's default, where the server has its own
    # memory and connections
    load_workers: ClassVar[int] = 20
    label: str
    # the deployment's own folder: dlt's pipelines (cursors, load packages) and locks
    state_dir: Path

    @property
    def fingerprint(self) -> str:
        """What names this warehouse in a working folder (`working`): no secret."""
        return self.label

    @abstractmethod
    def dlt_destination(self, staging: str) -> Any:
        """The dlt destination, its staging tables in schema `staging`."""

    @abstractmethod
    def dbt_output(self, schema: str) -> tuple[dict[str, Any], dict[str, str]]:
        """A dbt profile's output for this warehouse, models in `schema`, and the
        environment variables holding its secrets (never written in the profile)."""

    def gate(self) -> Any:
        """A context manager: what one account's pipeline does to the warehouse (open it,
        load) kept from another account's of this command where the warehouse needs that
        (DuckDB: one connection, one writer)."""
        return _nothing()

    def account_lock(self, name: str) -> Any:
        """A context manager: the account's pipeline `name` held against runs of it on other
        hosts (a working folder's own lock keeps this host's apart); the held warehouse
        suffices where one command holds it all (DuckDB)."""
        return _nothing()

    def upkeep(self) -> Any:
        """A context manager: this command alone upgrading the layout or rewriting rows
        for privacy (where commands share the warehouse)."""
        return _nothing()

    def rebuild_turn(self) -> Any:
        """A context manager yielding whether to rebuild the analytics now: False when
        another run is queued to rebuild after this one's loads anyway."""
        return _yes()

    def load(self, pipeline: Any) -> list[str]:
        """dlt's load step for the pipeline's normalized packages; their load ids. The
        stored states the load made obsolete are deleted (`stored_state`)."""
        with self.gate():
            info = pipeline.load(workers=self.load_workers)
            if info.loads_ids:
                with self.warehouse() as wh:
                    keep_newest_state(wh, pipeline.dataset_name, pipeline.pipeline_name)
        info.raise_on_failed_jobs()
        return list(info.loads_ids)

    @abstractmethod
    def warehouse(self) -> Warehouse:
        """A connection for the transforms, the sync log, privacy, the layout."""

    @abstractmethod
    def _held(self, wait_seconds: float) -> Any:
        """A context manager: the warehouse held for this command; yields the destination
        to use meanwhile."""

    def _watched(self, hang_timeout: float) -> Any:
        """A context manager: hangs watched for (an embedded database has none)."""
        return _nothing()

    def missing(self) -> str | None:
        """Why there is nothing to read here (a report only reads), or None."""
        return None

    @contextmanager
    def session(self) -> Iterator[Destination]:
        """The warehouse for one command: watched for hangs, held once its turn comes
        (lock.wait_seconds), as `destination.postgres.hang_timeout` and the lock say."""
        with self._watched(float(config.get_int("destination.postgres.hang_timeout"))), \
                self._held(float(config.get_int("lock.wait_seconds"))) as bound:
            yield bound


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _yes() -> Iterator[bool]:
    yield True


def state_dir(default: Path) -> Path:
    """flowsync.state_dir (FLOWSYNC__STATE_DIR), or the warehouse's default."""
    chosen = config.get("flowsync.state_dir")
    return Path(str(chosen)).expanduser().resolve() if chosen else default


def connect(kind: str, target: str) -> Warehouse:
    """A connection to the DuckDB file or Postgres DSN `target` (tools and tests)."""
    if kind == "duckdb":
        import duckdb

        from .duckdb import DuckDBWarehouse

        return DuckDBWarehouse(duckdb.connect(target))
    import psycopg2

    from .postgres import PostgresWarehouse

    return PostgresWarehouse(psycopg2.connect(target))


def make_destination(kind: str, duckdb_path: str | None = None) -> Destination:
    """The destination of this kind as configured; ConfigError naming what to fix."""
    if kind == "duckdb":
        from .duckdb import duckdb_destination

        return duckdb_destination(duckdb_path)
    if kind == "postgres":
        from .postgres import postgres_destination

        return postgres_destination()
    raise ConfigError(f"unknown destination {kind!r}; use {' or '.join(KINDS)}")
