"""Where data goes: DuckDB or Postgres, resolved from configuration and checked before use,
and where the deployment's working state lives (`state_dir`).

Every problem found here is a `ConfigError` naming the setting to fix, raised before any
local state is touched. `held` takes the warehouse's lock for a command (`lock`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import dlt
from dlt.common.configuration import configspec
from dlt.common.typing import TSecretStrValue
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from sources import registry
from sources.errors import ConfigError, first_line, keep_secret
from transforms.runner import SCHEMA as ANALYTICS_SCHEMA
from transforms.runner import Warehouse

from . import config
from .lock import hold_duckdb, hold_postgres

# measured (README): parquet loads DuckDB 3.6x faster than dlt's default insert path;
# COPY (csv) edges out inserts on Postgres
LOADER_FORMAT = {"duckdb": "parquet", "postgres": "csv"}
# on every Postgres connection flowsync or dlt opens (a DSN's own values win): a connect
# that gets no answer, a peer that vanished (a half-open connection after a failover) and
# data the network never acknowledges end the connection instead of waiting forever
CLIENT_OPTIONS = {"connect_timeout": "15", "keepalives": "1", "keepalives_idle": "30",
                  "keepalives_interval": "10", "keepalives_count": "3",
                  "tcp_user_timeout": "60000"}


@dataclass
class Destination:
    """Where data goes: the dlt destination and a description without secrets."""

    kind: str
    factory: Any
    label: str
    fingerprint: str
    # the file path or DSN for direct connections (the DSN is secret: never print it)
    target: str = field(default="", repr=False)
    # the deployment's own folder: dlt's pipelines (cursors, load packages) and locks
    state_dir: Path = field(default_factory=Path.cwd)
    # DuckDB settings given when the file is opened
    options: dict[str, str] = field(default_factory=dict)
    # while the warehouse is held (DuckDB): the one connection every step uses
    connection: Any = field(default=None, repr=False)

    @property
    def loader_file_format(self) -> str:
        return LOADER_FORMAT[self.kind]

    def warehouse(self) -> Warehouse:
        """A connection for the transforms and the sync log: on the held DuckDB file, a
        cursor of the command's connection (no one else can open the file meanwhile)."""
        if self.connection is not None:
            return Warehouse(self.kind, self.connection.cursor())
        return Warehouse.connect(self.kind, self.target)


@contextmanager
def held(destination: Destination) -> Iterator[Destination]:
    """The warehouse's lock for one command (`lock`): waits its turn, up to
    lock.wait_seconds. Yields the destination to use meanwhile."""
    limit = float(config.get_int("lock.wait_seconds"))
    if destination.kind == "duckdb":
        with hold_duckdb(destination.target, limit, destination.options) as conn:
            yield replace(destination, connection=conn,
                          factory=dlt.destinations.duckdb(DuckDbCredentials(conn)))
    else:
        with hold_postgres(destination.target, limit):
            yield destination


def state_dir(default: Path) -> Path:
    """flowsync.state_dir (FLOWSYNC__STATE_DIR), or the warehouse's default."""
    chosen = config.get("flowsync.state_dir")
    return Path(str(chosen)).expanduser().resolve() if chosen else default


def duckdb_destination(path: str | None = None) -> Destination:
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
    options = {"memory_limit": str(config.get("destination.duckdb.memory_limit"))}
    credentials = DuckDbCredentials(str(file), global_config=dict(options))
    return Destination("duckdb", dlt.destinations.duckdb(credentials), str(file),
                       f"duckdb:{file}", str(file),
                       state_dir=state_dir(file.with_name(file.name + ".state")),
                       options=options)


def postgres_destination() -> Destination:
    """Postgres at destination.postgres.credentials, checked to answer."""
    dsn = config.get("destination.postgres.credentials")
    if not dsn:
        raise ConfigError("Postgres is not configured: set destination.postgres.credentials "
                          "(DESTINATION__POSTGRES__CREDENTIALS), e.g. "
                          "postgresql://user:password@host:5432/db")
    import psycopg2
    from psycopg2.extensions import make_dsn

    parts = postgres_parts(str(dsn))
    dsn = make_dsn(**parts)
    keep_secret(dsn)
    _bound_statements(config.get_int("destination.postgres.statement_timeout"))
    try:
        psycopg2.connect(dsn).close()
    except psycopg2.Error as exc:
        raise ConfigError(f"Postgres is unreachable: {first_line(exc)}") from None
    label = (f"postgres://{parts.get('user', '')}@{parts.get('host', '')}:"
             f"{parts.get('port', 5432)}/{parts.get('dbname', '')}")
    return Destination("postgres", dlt.destinations.postgres(libpq_credentials(parts)), label,
                       label, dsn, state_dir=state_dir(Path.cwd() / "flowsync-postgres.state"))


def postgres_parts(raw: str) -> dict[str, str]:
    """The DSN's libpq options, with the client-side bounds (`CLIENT_OPTIONS`) unless it
    sets its own. Refused, without quoting it (it holds a password), when it is not a
    PostgreSQL DSN or does not name the host and database flowsync is to load into."""
    from psycopg2.extensions import parse_dsn

    keep_secret(raw)
    scheme = re.match(r"\s*([A-Za-z][\w+.-]{0,30})://", raw)
    if scheme and scheme.group(1).lower() not in ("postgresql", "postgres"):
        sqlalchemy = scheme.group(1).lower().startswith(("postgresql+", "postgres+"))
        raise ConfigError(
            f"destination.postgres.credentials is not a PostgreSQL DSN ({scheme.group(1)}://"
            f"{'; SQLAlchemy names the driver there, libpq does not' if sqlalchemy else ''}): "
            "use postgresql://user:password@host:5432/database")
    try:
        parts = parse_dsn(raw.strip())
    except Exception:  # libpq's message quotes the whole string
        raise ConfigError("destination.postgres.credentials is not a DSN libpq can read: use "
                          "postgresql://user:password@host:5432/database (or host=... "
                          "dbname=... pairs)") from None
    keep_secret(parts.get("password"))
    missing = [name for key, name in (("host", "host"), ("dbname", "database"))
               if not parts.get(key)]
    if missing:
        raise ConfigError(f"destination.postgres.credentials names no {' and no '.join(missing)}"
                          ": flowsync loads only where it is told to (libpq's defaults would "
                          "pick one); e.g. postgresql://user@host:5432/database")
    # the watchdog finds this command's backends by name (`watchdog`)
    return {**CLIENT_OPTIONS, "application_name": f"flowsync-{os.getpid()}", **parts}


@configspec(init=False)
class LibpqCredentials(PostgresCredentials):
    """dlt's Postgres credentials with the password optional, as libpq has it (trust or
    peer auth, PGPASSWORD, ~/.pgpass)."""

    password: Optional[TSecretStrValue] = None  # noqa: UP045 (dlt reads the annotation)


def libpq_credentials(parts: dict[str, str]) -> LibpqCredentials:
    """Credentials from a parsed DSN (URL or key=value), other libpq options kept."""
    known = {"user", "password", "host", "port", "dbname"}
    credentials = LibpqCredentials()
    credentials.username = parts.get("user")
    credentials.password = parts.get("password")
    credentials.host = parts.get("host")
    credentials.port = int(parts.get("port") or 5432)
    credentials.database = parts.get("dbname")
    credentials.query = {k: v for k, v in parts.items() if k not in known}
    credentials.resolve()
    return credentials


def _bound_statements(seconds: int) -> None:
    """Every Postgres connection of this process (dlt's, the transforms') gets the
    statement timeout, through libpq's PGOPTIONS; one the user set there wins."""
    if seconds and "statement_timeout" not in os.environ.get("PGOPTIONS", ""):
        os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "")
                                   + f" -c statement_timeout={seconds * 1000}").strip()


def make_destination(kind: str, duckdb_path: str | None = None) -> Destination:
    if kind == "duckdb":
        return duckdb_destination(duckdb_path)
    if kind == "postgres":
        return postgres_destination()
    raise ConfigError(f"unknown destination {kind!r}; use duckdb or postgres")
