"""Running flowsync in tests: one source through a dlt pipeline against one simulator
(`HilosRunner`, `TwilioRunner`), or the `flowsync` console script as a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
import duckdb
import httpx
import psycopg2

from simulator import Simulator
from sources.hilos import hilos_source
from sources.hilos import make_http as hilos_http
from sources.twilio_studio import make_http as twilio_http
from sources.twilio_studio import twilio_studio_source
from tests.expected import EXEC_COLUMNS, HILOS_TOKEN, STEP_COLUMNS, utc
from tests.worlds import POSTGRES_DSN

FLOWSYNC = str(Path(sys.executable).with_name("flowsync"))


class SourceRunner:
    """Runs a source into DuckDB (or a given destination) and reads tables back.

    Args:
        sim: the simulator the source talks to.
        workdir: where the DuckDB file and dlt's working folder go.
        make_source: builds the source for one run (a fresh HTTP client each time).
        dataset: the dataset (schema) name.
        destination: default a DuckDB file in workdir.
    """

    def __init__(self, sim: Simulator, workdir: Path, make_source: Callable[[], Any],
                 dataset: str, destination: Any = None) -> None:
        self.sim = sim
        self.db = workdir / "warehouse.duckdb"
        self.dataset = dataset
        self.make_source = make_source
        self.faults_injected = 0
        self.pipeline = dlt.pipeline(
            pipeline_name=f"{dataset}_{uuid.uuid4().hex[:8]}",
            destination=destination or dlt.destinations.duckdb(str(self.db)),
            dataset_name=dataset, pipelines_dir=str(workdir / "pipelines"))

    def run(self) -> int:
        """Runs one sync; returns the API requests it made."""
        self.sim.reset_stats()
        try:
            self.pipeline.run(self.make_source(), loader_file_format="parquet")
            return self.sim.stats()["total"]
        finally:
            self.faults_injected += sum(self.sim.stats()["faults"].values())

    def rows(self, table: str, columns: str, key: str = "1") -> list[tuple]:
        sql = f"select {columns} from {self.dataset}.{table} order by {key}"
        with self.pipeline.sql_client() as client:
            rows = client.execute_sql(sql)
        return [tuple(utc(v) for v in r) for r in rows]


def drop_schemas(dsn: str, dataset: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {dataset} cascade")
        cur.execute(f"drop schema if exists {dataset}_staging cascade")


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file below root whose bytes contain the secret (dlt's folders, the warehouse)."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


class HilosRunner(SourceRunner):
    """The Hilos source against one simulator."""

    def __init__(self, sim: Simulator, workdir: Path, destination=None, dataset: str = "hilos",
                 max_attempts: int = 6, **source_args) -> None:
        self.token = HILOS_TOKEN
        self.max_attempts = max_attempts
        self.source_args = source_args
        super().__init__(sim, workdir, self._source, dataset, destination)

    def _source(self):
        http = hilos_http(self.token, self.sim.base_url, backoff_base=0.01, backoff_max=0.05,
                         max_attempts=self.max_attempts)
        return hilos_source(api_token=self.token, base_url=self.sim.base_url, http=http,
                            **self.source_args)

    def rows(self, table: str, columns: str) -> list[tuple]:
        return super().rows(table, columns, key="id")


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP, remembering every request sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


class TwilioRunner(SourceRunner):
    """The Twilio Studio source against one simulator."""

    def __init__(self, sim: Simulator, workdir: Path, destination=None,
                 dataset: str = "twilio_studio", api_key: bool = False, max_attempts: int = 6,
                 **source_args) -> None:
        self.max_attempts = max_attempts
        cfg = sim.world.config
        self.credentials = ({"api_key_sid": cfg.twilio_api_key_sid,
                             "api_key_secret": cfg.twilio_api_key_secret} if api_key else
                            {"account_sid": cfg.twilio_account_sid, "auth_token": cfg.twilio_auth_token})
        self.source_args = source_args
        self.transport = RecordingTransport()
        super().__init__(sim, workdir, self._source, dataset, destination)

    def _source(self):
        http = twilio_http(base_url=self.sim.base_url, transport=self.transport, backoff_base=0.01,
                         backoff_max=0.05, max_attempts=self.max_attempts, **self.credentials)
        return twilio_studio_source(http=http, **self.source_args)

    def executions(self) -> list[tuple]:
        return self.rows("executions", EXEC_COLUMNS, key="sid")

    def steps(self) -> list[tuple]:
        return self.rows("execution_steps", STEP_COLUMNS, key="sid")


def env_for(sim: Simulator | None, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update(DLT_DATA_DIR=str(tmp / "dlt"), DESTINATION__DUCKDB__CREDENTIALS=str(tmp / "w.duckdb"))
    if sim is not None:
        cfg = sim.world.config
        env.update(
            SOURCES__HILOS__BASE_URL=sim.base_url, SOURCES__HILOS__API_TOKEN=cfg.hilos_api_token,
            SOURCES__TWILIO_STUDIO__BASE_URL=sim.base_url,
            SOURCES__TWILIO_STUDIO__ACCOUNT_SID=cfg.twilio_account_sid,
            SOURCES__TWILIO_STUDIO__AUTH_TOKEN=cfg.twilio_auth_token)
    env.update(extra)
    return env


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", re.MULTILINE)


def untimed(stdout: str) -> str:
    """The summary lines without the UTC time a non-terminal stdout gets on each."""
    return STAMP.sub("", stdout)


def flowsync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([FLOWSYNC, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def killpoint(point: str, nth: int, args: list[str], env: dict[str, str], cwd: Path,
              signal_name: str | None = None) -> subprocess.CompletedProcess:
    """`flowsync ARGS` stopped at a point (`tests.killpoint`), run from `cwd` as a user
    would: the working directory decides where Postgres' state folder goes, so the killed
    run and the next one must share it."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "tests.killpoint", point, str(nth),
                           *([signal_name] if signal_name else []), "--", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def read(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [tuple(utc(v) for v in r) for r in con.execute(sql).fetchall()]


Reader = Callable[[str], list[tuple]]


@contextmanager
def warehouse(kind: str, tmp: Path) -> Iterator[tuple[dict[str, str], Reader]]:
    """The env vars for a fresh warehouse of this kind (a DuckDB file in `tmp`, or a new
    Postgres database, dropped after), and a reader of exact rows for it."""
    if kind == "duckdb":
        db = tmp / "w.duckdb"

        def read(sql: str) -> list[tuple]:
            with duckdb.connect(str(db), read_only=True) as con:
                return [tuple(utc(v) for v in r) for r in con.execute(sql).fetchall()]

        yield {"DESTINATION__DUCKDB__CREDENTIALS": str(db)}, read
        return
    with fresh_database() as name:
        dsn = database_dsn(name)

        def read_pg(sql: str) -> list[tuple]:
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                cur.execute(sql)
                rows = [tuple(utc(v) for v in r) for r in cur.fetchall()]
            conn.close()
            return rows

        yield {"DESTINATION__POSTGRES__CREDENTIALS": dsn}, read_pg


@contextmanager
def fresh_database(prefix: str = "flowsync_test") -> Iterator[str]:
    """A new database on the test server, for one test; dropped after. Yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(POSTGRES_DSN)
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    try:
        yield name
    finally:
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


def database_dsn(name: str) -> str:
    """The test server's DSN for database `name`."""
    return POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}"
