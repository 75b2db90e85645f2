"""The pinned dependency set loads into both destinations and reads back through dlt.

These guard the version pins: dlt 1.31's dataset api fails on duckdb 2.x and on
sqlglot >= 30.22 (see pyproject.toml).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dlt
import psycopg2
import pytest

ROWS = [{"id": i, "status": "completed" if i % 3 else "failed", "contact": {"phone": f"+{i}"}}
        for i in range(25)]


def _load(destination, pipelines_dir: Path, dataset: str) -> dlt.Pipeline:
    pipeline = dlt.pipeline(pipeline_name=f"smoke_{uuid.uuid4().hex[:8]}",
                            destination=destination, dataset_name=dataset,
                            pipelines_dir=str(pipelines_dir))
    pipeline.run(ROWS, table_name="runs", write_disposition="merge", primary_key="id")
    # a second load of the same rows must not duplicate them
    pipeline.run(ROWS, table_name="runs", write_disposition="merge", primary_key="id")
    return pipeline


def test_duckdb_loads_and_the_dataset_api_reads_back(tmp_path: Path) -> None:
    pipeline = _load(dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")), tmp_path, "smoke")
    rows = pipeline.dataset()("select id, status, contact__phone from runs order by id").fetchall()
    assert rows == [(r["id"], r["status"], r["contact"]["phone"]) for r in ROWS]


@pytest.mark.postgres
def test_postgres_loads_and_the_dataset_api_reads_back(tmp_path: Path, postgres_dsn: str) -> None:
    dataset = f"smoke_{uuid.uuid4().hex[:8]}"
    try:
        pipeline = _load(dlt.destinations.postgres(postgres_dsn), tmp_path, dataset)
        rows = pipeline.dataset()("select id, status, contact__phone from runs order by id").fetchall()
        assert rows == [(r["id"], r["status"], r["contact"]["phone"]) for r in ROWS]
    finally:
        with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
            cur.execute(f"drop schema if exists {dataset} cascade")
            cur.execute(f"drop schema if exists {dataset}_staging cascade")
