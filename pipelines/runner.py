"""Building and running one dlt pipeline per source, the way `flowsync run` does.

One pipeline per source (`flowsync_hilos`, `flowsync_twilio_studio`), datasets `hilos`
and `twilio_studio`, in dlt's default pipelines folder (so `dlt pipeline <name> info`
works). A run first completes whatever an interrupted run left pending, then extracts,
normalizes and loads new data. A lock per pipeline keeps two runs apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.runtime.collector import Collector
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.http import ApiError, AuthError, HttpClient
from transforms.runner import SCHEMA as ANALYTICS_SCHEMA

log = logging.getLogger("flowsync")

SOURCES = ("hilos", "twilio_studio")
DATASETS = {"hilos": "hilos", "twilio_studio": "twilio_studio"}
DEFAULT_DUCKDB = "flowsync.duckdb"
# DuckDB's own default is 80% of RAM, and it caches what a load writes up to that: a
# 1M-row first load peaked at 1.3 GB. Bounded, it writes out instead (no slower here).
DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
# measured (README): parquet loads DuckDB 3.6x faster than dlt's default insert path;
# COPY (csv) edges out inserts on Postgres
LOADER_FORMAT = {"duckdb": "parquet", "postgres": "csv"}


class ConfigError(Exception):
    """A problem the user fixes in configuration; the message says what and where."""


class BusyError(Exception):
    """Another flowsync run holds the pipeline."""


@dataclass
class Destination:
    """Where data goes: the dlt destination and a description without secrets."""

    kind: str
    factory: Any
    label: str
    fingerprint: str
    # the file path or DSN for direct connections (the DSN is secret: never print it)
    target: str = field(default="", repr=False)


def duckdb_destination(path: str | None = None) -> Destination:
    """DuckDB at `path`, DESTINATION__DUCKDB__CREDENTIALS, or flowsync.duckdb here."""
    raw = path or os.environ.get("DESTINATION__DUCKDB__CREDENTIALS") or dlt.config.get(
        "destination.duckdb.credentials") or DEFAULT_DUCKDB
    if not isinstance(raw, str):
        raise ConfigError("destination.duckdb.credentials must be a file path")
    file = Path(raw.removeprefix("duckdb:///")).expanduser().resolve()
    # duckdb names its catalog after the file; a dataset of the same name confuses its binder
    if file.stem in (*DATASETS.values(), ANALYTICS_SCHEMA):
        raise ConfigError(f"DuckDB file name {file.name!r} clashes with dataset {file.stem!r}; "
                          "choose another name (e.g. flowsync.duckdb)")
    if not file.parent.is_dir():
        raise ConfigError(f"DuckDB file {file}: folder {file.parent} does not exist")
    limit = str(dlt.config.get("destination.duckdb.memory_limit") or DEFAULT_DUCKDB_MEMORY_LIMIT)
    credentials = DuckDbCredentials(str(file), global_config={"memory_limit": limit})
    return Destination("duckdb", dlt.destinations.duckdb(credentials), str(file),
                       f"duckdb:{file}", str(file))


def postgres_destination() -> Destination:
    """Postgres at DESTINATION__POSTGRES__CREDENTIALS, checked to answer."""
    dsn = os.environ.get("DESTINATION__POSTGRES__CREDENTIALS") or dlt.secrets.get(
        "destination.postgres.credentials")
    if not dsn:
        raise ConfigError("Postgres is not configured: set destination.postgres.credentials "
                          "(DESTINATION__POSTGRES__CREDENTIALS), e.g. "
                          "postgresql://user:password@host:5432/db")
    import psycopg2

    dsn = str(dsn)
    try:
        psycopg2.connect(dsn, connect_timeout=10).close()
    except psycopg2.Error as exc:
        # the driver's message names host and port, never the password
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Postgres is unreachable: {reason}") from None
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(dsn)
    label = (f"postgres://{parts.get('user', '')}@{parts.get('host', '')}:"
             f"{parts.get('port', 5432)}/{parts.get('dbname', '')}")
    return Destination("postgres", dlt.destinations.postgres(dsn), label, label, dsn)


def make_destination(kind: str, duckdb_path: str | None = None) -> Destination:
    if kind == "duckdb":
        return duckdb_destination(duckdb_path)
    if kind == "postgres":
        return postgres_destination()
    raise ConfigError(f"unknown destination {kind!r}; use duckdb or postgres")


def configured_sources() -> list[str]:
    """The sources whose credentials are set."""
    out = []
    if dlt.secrets.get("sources.hilos.api_token"):
        out.append("hilos")
    tw = "sources.twilio_studio."
    if (dlt.config.get(tw + "account_sid") and dlt.secrets.get(tw + "auth_token")) or (
            dlt.config.get(tw + "api_key_sid") and dlt.secrets.get(tw + "api_key_secret")):
        out.append("twilio_studio")
    return out


def build_source(name: str) -> tuple[Any, HttpClient]:
    """The source as configured, and its HTTP client (for request counts)."""
    if name == "hilos":
        from sources.hilos import hilos_source, make_http
        from sources.hilos.settings import DEFAULT_BASE_URL

        cfg = "sources.hilos."
        http = make_http(str(dlt.secrets.get(cfg + "api_token")),
                         dlt.config.get(cfg + "base_url") or DEFAULT_BASE_URL)
        return hilos_source(http=http), http
    from sources.twilio_studio import make_http as twilio_http
    from sources.twilio_studio import twilio_studio_source
    from sources.twilio_studio.settings import DEFAULT_BASE_URL as TWILIO_URL
    from sources.twilio_studio.settings import DEFAULT_MAX_WORKERS

    cfg = "sources.twilio_studio."
    workers = int(dlt.config.get(cfg + "max_workers") or DEFAULT_MAX_WORKERS)
    http = twilio_http(
        account_sid=dlt.config.get(cfg + "account_sid"),
        auth_token=dlt.secrets.get(cfg + "auth_token"),
        api_key_sid=dlt.config.get(cfg + "api_key_sid"),
        api_key_secret=dlt.secrets.get(cfg + "api_key_secret"),
        base_url=dlt.config.get(cfg + "base_url") or TWILIO_URL,
        max_connections=workers * 2)
    return twilio_studio_source(http=http), http


class RowCounter(Collector):
    """Counts what dlt's steps report (rows per resource while extracting), for progress."""

    def __init__(self) -> None:
        self.step = ""
        self.counts: dict[str, int] = {}

    def update(self, name: str, inc: int = 1, total: int | None = None,
               inc_total: int | None = None, message: str | None = None,
               label: str | None = None) -> None:
        if not label:
            self.counts[name] = self.counts.get(name, 0) + inc

    def _start(self, step: str) -> None:
        self.counts = {}

    def _stop(self) -> None:
        pass

    def snapshot(self) -> str:
        """E.g. `extract: executions 12,000, flows 20`."""
        step = self.step.split()[0].lower() if self.step else ""
        counts = dict(self.counts)
        parts = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())
                          if not k.startswith("_dlt") and k != "Resources")
        return f"{step}: {parts}" if parts else step


@dataclass
class SourceResult:
    """What one source's run did."""

    source: str
    ok: bool = False
    # its load completed, whatever else failed (a flow or some steps may be pending)
    loaded: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    config_error: bool = False


@contextmanager
def pipeline_lock(name: str) -> Iterator[None]:
    """Holds `<dlt data dir>/flowsync-locks/<name>.lock` for the run; BusyError if held."""
    folder = Path(get_dlt_pipelines_dir()).parent / "flowsync-locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise BusyError(f"another flowsync run is using pipeline {name} (pid {holder}); "
                            "try again when it has finished") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_pipeline(source: str, destination: Destination,
                  progress: Collector | None = None) -> dlt.Pipeline:
    """The source's pipeline; its local state is reset if it last loaded elsewhere."""
    name = f"flowsync_{source}"
    pipeline = dlt.pipeline(pipeline_name=name, destination=destination.factory,
                            dataset_name=DATASETS[source], progress=progress)
    marker = Path(pipeline.working_dir) / "flowsync_destination.json"
    digest = hashlib.sha256(destination.fingerprint.encode()).hexdigest()
    if marker.exists() and json.loads(marker.read_text()).get("destination") != digest:
        # the cursors here belong to another warehouse: start from what this one holds
        log.warning("%s last loaded into another destination; its local state is reset and "
                    "restored from %s", name, destination.label)
        pipeline.drop()
        pipeline = dlt.pipeline(pipeline_name=name, destination=destination.factory,
                                dataset_name=DATASETS[source], progress=progress)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"destination": digest}))
    return pipeline


def run_source(source: str, destination: Destination,
               on_progress: Callable[[str, HttpClient, RowCounter, float], None] | None = None,
               ) -> SourceResult:
    """Runs one source into the destination. Never raises for the source's own failures."""
    result = SourceResult(source)
    # dlt's intermediate files live for minutes and are deleted after loading: compressing
    # them cost 1.5 of 11.5 s on a 100k-row load (README); a user's setting still wins
    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
    t0 = time.perf_counter()
    http: HttpClient | None = None
    counter = RowCounter()
    try:
        with pipeline_lock(f"flowsync_{source}"):
            pipeline = open_pipeline(source, destination, counter)
            fmt = LOADER_FORMAT[destination.kind]
            if pipeline.has_pending_data:
                log.warning("%s: completing the load an interrupted run left pending", source)
                _drop_extracted_copies_of_normalized(pipeline)
                pipeline.normalize()
                pipeline.load()
            data, http = build_source(source)
            with _ticker(source, http, counter, t0, on_progress):
                info = pipeline.run(data, loader_file_format=fmt)
            info.raise_on_failed_jobs()
            result.loaded = True
            result.rows = _extracted_rows(pipeline)
            failures = _recorded_failures(pipeline, source)
            if failures:
                result.error = "; ".join(failures)
            else:
                result.ok = True
    except BusyError as exc:
        result.error = str(exc)
    except (ConfigError, ValueError) as exc:
        result.error, result.config_error = str(exc), True
    except PipelineStepFailed as exc:
        cause = _root_cause(exc)
        result.config_error = isinstance(cause, AuthError | ValueError)
        result.error = str(cause) if isinstance(cause, ApiError | ValueError) else (
            f"{exc.step} failed: {_first_line(cause)}")
    finally:
        result.seconds = time.perf_counter() - t0
        if http is not None:
            result.requests = http.request_count
            http.close()
    return result


def _drop_extracted_copies_of_normalized(pipeline: dlt.Pipeline) -> None:
    """Removes what a kill between two steps of dlt's normalize leaves behind.

    dlt 1.31 commits a normalized package by an atomic rename into load/normalized and
    only then deletes the extracted package. Killed in between, both exist; normalizing
    again writes load/new/<id> and fails to rename it over the committed one ("Directory
    not empty"). The committed package is complete, so the extracted copy (and any
    half-written load/new/<id>) can go. Pinned by a test that kills a run at that point.
    """
    root = Path(pipeline.working_dir)
    extracted = root / "normalize" / "extracted"
    if not extracted.is_dir():
        return
    done = {p.name for sub in ("normalized", "loaded") if (root / "load" / sub).is_dir()
            for p in (root / "load" / sub).iterdir()}
    for package in extracted.iterdir():
        if package.name in done:
            log.info("%s: package %s was normalized before the interruption; its extracted "
                     "copy is removed", pipeline.pipeline_name, package.name)
            shutil.rmtree(package)
            shutil.rmtree(root / "load" / "new" / package.name, ignore_errors=True)


def _extracted_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows fetched per table in the last run.

    From the extract step: with the csv loader, dlt 1.31's normalize row counts come out
    multiplied by about the number of columns.
    """
    trace = pipeline.last_trace
    info = trace.last_extract_info if trace else None
    counts: dict[str, int] = {}
    for metrics in (info.metrics.values() if info else ()):
        for m in metrics:
            for table, tm in m["table_metrics"].items():
                if not table.startswith("_dlt"):
                    counts[table] = counts.get(table, 0) + tm.items_count
    return counts


def _recorded_failures(pipeline: dlt.Pipeline, source: str) -> list[str]:
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    return [f for r in resources.values() if isinstance(r, dict) for f in r.get("failures") or []]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        if isinstance(exc, ApiError | ValueError) and not isinstance(nxt, ApiError | ValueError):
            break
        exc = nxt
    return exc


@contextmanager
def _ticker(source: str, http: HttpClient, counter: RowCounter, t0: float,
            on_progress: Callable[[str, HttpClient, RowCounter, float], None] | None,
            ) -> Iterator[None]:
    """Calls on_progress about twice a second while the run is going."""
    if on_progress is None:
        yield
        return
    import threading

    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            on_progress(source, http, counter, time.perf_counter() - t0)

    thread = threading.Thread(target=tick, daemon=True, name=f"progress-{source}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def event_lists() -> tuple[list[str], list[str]]:
    """The Twilio outcome events: sources.twilio_studio.timeout_events / failure_events."""
    from transforms.runner import DEFAULT_FAILURE_EVENTS, DEFAULT_TIMEOUT_EVENTS

    lists = []
    for key, default in (("timeout_events", DEFAULT_TIMEOUT_EVENTS),
                         ("failure_events", DEFAULT_FAILURE_EVENTS)):
        value = dlt.config.get(f"sources.twilio_studio.{key}")
        if value is None:
            value = list(default)
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"sources.twilio_studio.{key} must be a list of event names")
        lists.append(value)
    return lists[0], lists[1]


def build_analytics(destination: Destination) -> list:
    """Rebuilds the analytics tables; raises CheckFailedError or the database's error."""
    from transforms.runner import Warehouse, build

    timeout_events, failure_events = event_lists()
    wh = Warehouse.connect(destination.kind, destination.target)
    try:
        return build(wh, timeout_events, failure_events)
    finally:
        wh.close()
