"""A dlt pipeline of one source against one simulator, for end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import psycopg2

from simulator import Simulator


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


def utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def drop_schemas(dsn: str, dataset: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {dataset} cascade")
        cur.execute(f"drop schema if exists {dataset}_staging cascade")


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file below root whose bytes contain the secret (dlt's folders, the warehouse)."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
