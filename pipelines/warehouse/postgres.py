"""Postgres: a database on a server, shared with readers and other flowsync runs.

A command holds a session advisory lock in the database (so runs on two hosts are kept
apart too), named after the command; every connection flowsync or dlt opens carries the
client-side bounds (`CLIENT_OPTIONS`), the statement timeout (`PGOPTIONS`) and this
command's name, by which the watchdog finds its backends (`watchdog`). Rows are loaded
through COPY. The DSN is a secret: parsed here without ever being quoted.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import dlt
from dlt.common.configuration import configspec
from dlt.common.typing import TSecretStrValue
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from sources.errors import ConfigError, first_line, keep_secret
from transforms.warehouse import Params, Warehouse

from .. import config
from . import Destination, pglocks, state_dir
from .watchdog import watched

ADVISORY_KEYS = pglocks.COMMAND
SCHEMA_KEY = 0x666C6F78  # pg_advisory_xact_lock(int4, int4): (this, hashtext(dataset))
# on every Postgres connection flowsync or dlt opens (a DSN's own values win): a connect
# that gets no answer, a peer that vanished (a half-open connection after a failover) and
# data the network never acknowledges end the connection instead of waiting forever
CLIENT_OPTIONS = {"connect_timeout": "15", "keepalives": "1", "keepalives_idle": "30",
                  "keepalives_interval": "10", "keepalives_count": "3",
                  "tcp_user_timeout": "60000"}


class PostgresWarehouse(Warehouse):
    row_id = "ctid"

    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        conn.autocommit = True

    def _run(self, sql: str, params: Params = None) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, params or None)
        return cur

    def move_rows(self, table: str, where: str, into: str, columns: str) -> None:
        # one pass over the table: the rows deleted are the rows kept
        self.execute(f"with moved as (delete from {table} where {where} returning {columns}) "
                     f"insert into {into} ({columns}) select {columns} from moved")

    def dependents(self, schema: str, table: str) -> list[str]:
        """Postgres' own dependency records (views and materialized views)."""
        return [r[0] for r in self.rows(
            "select distinct n.nspname || '.' || v.relname from pg_depend d "
            "join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class "
            "join pg_namespace n on n.oid = v.relnamespace "
            "where d.refobjid = to_regclass(%s) and v.oid <> d.refobjid order by 1",
            (f"{schema}.{table}",))]

    def json_elements(self, expr: str, key: str) -> str:
        return f"jsonb_array_elements(cast({expr} as jsonb) -> '{key}')"

    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """COPY, as csv."""
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        buffer.seek(0)
        self.conn.cursor().copy_expert(
            f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", buffer)


@dataclass
class Postgres(Destination):
    kind = "postgres"
    loader_file_format = "csv"

    label: str
    state_dir: Path
    parts: dict[str, str] = field(repr=False)  # the DSN's libpq options (secret)

    @property
    def dsn(self) -> str:
        from psycopg2.extensions import make_dsn

        return make_dsn(**self.parts)

    def dlt_destination(self, staging: str) -> Any:
        return dlt.destinations.postgres(libpq_credentials(self.parts),
                                         staging_dataset_name_layout=staging)

    def dbt_output(self, schema: str) -> tuple[dict[str, Any], dict[str, str]]:
        output: dict[str, Any] = {
            "type": "postgres", "host": self.parts.get("host"),
            "port": int(self.parts.get("port") or 5432), "user": self.parts.get("user", ""),
            "password": "{{ env_var('FLOWSYNC_DBT_PASSWORD', '') }}",
            "dbname": self.parts.get("dbname"), "schema": schema, "threads": 4,
            "connect_timeout": int(self.parts.get("connect_timeout") or 15),
            "keepalives_idle": int(self.parts.get("keepalives_idle") or 30)}
        if self.parts.get("sslmode"):
            output["sslmode"] = self.parts["sslmode"]
        return output, {"FLOWSYNC_DBT_PASSWORD": self.parts.get("password") or ""}

    def load(self, pipeline: Any) -> list[str]:
        """Accounts load side by side (each into staging tables of its own); the tables and
        columns a load adds are added by one at a time (`schema_lock`)."""
        with schema_lock(self.dsn, pipeline.dataset_name), \
                pipeline.destination_client() as client:
            client.initialize_storage()
            client.update_stored_schema()
        return super().load(pipeline)

    def warehouse(self) -> Warehouse:
        import psycopg2

        return PostgresWarehouse(psycopg2.connect(self.dsn))

    @contextmanager
    def _held(self, wait_seconds: float) -> Iterator[Destination]:
        with hold(self.dsn, wait_seconds):
            yield self

    def _watched(self, hang_timeout: float) -> Any:
        return watched(self.dsn, self.label, hang_timeout)

    def account_lock(self, name: str) -> Any:
        return pglocks.advisory(self.dsn, (pglocks.ACCOUNT, name), f"the run of {name} "
                                "on another host or process", _wait())

    def upkeep(self) -> Any:
        return pglocks.advisory(self.dsn, pglocks.UPKEEP, "another run's upgrade, privacy "
                                "pass or analytics rebuild", _wait())

    def rebuild_turn(self) -> Any:
        return pglocks.rebuild_turn(self.dsn, _wait())


def _wait() -> float:
    return float(config.get_int("lock.wait_seconds"))


def postgres_destination() -> Postgres:
    """Postgres at destination.postgres.credentials, checked to answer."""
    dsn = config.get("destination.postgres.credentials")
    if not dsn:
        raise ConfigError("Postgres is not configured: set destination.postgres.credentials "
                          "(DESTINATION__POSTGRES__CREDENTIALS), e.g. "
                          "postgresql://user:password@host:5432/db")
    import psycopg2

    parts = postgres_parts(str(dsn))
    destination = Postgres(
        f"postgres://{parts.get('user', '')}@{parts.get('host', '')}:"
        f"{parts.get('port', 5432)}/{parts.get('dbname', '')}",
        state_dir(Path.cwd() / "flowsync-postgres.state"), parts)
    keep_secret(destination.dsn)
    _bound_statements(config.get_int("destination.postgres.statement_timeout"))
    try:
        psycopg2.connect(destination.dsn).close()
    except psycopg2.Error as exc:
        raise ConfigError(f"Postgres is unreachable: {first_line(exc)}") from None
    return destination


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


@contextmanager
def schema_lock(dsn: str, dataset: str) -> Iterator[None]:
    """The dataset's schema-change lock (a transaction advisory lock), for as long as it
    takes to bring the dataset's tables up to a pipeline's schema."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s, hashtext(%s))",
                        (SCHEMA_KEY, dataset))
            yield
    finally:
        conn.close()


@contextmanager
def hold(dsn: str, limit: float) -> Iterator[None]:
    """The database's flowsync command lock, shared: runs of other accounts go on."""
    with pglocks.advisory(dsn, pglocks.COMMAND, "the Postgres database (flowsync's "
                          "advisory lock)", limit, shared=True):
        yield
