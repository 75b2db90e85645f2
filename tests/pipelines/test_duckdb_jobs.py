"""The held DuckDB file is checkpointed after each of dlt's load jobs (`warehouse.duckdb_jobs`):
a checkpoint then holds one table's blocks, not a load's, and fits the load's lower limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from pipelines.accounts import accounts
from pipelines.config import environment
from pipelines.runner import run_source
from pipelines.warehouse import duckdb_jobs
from pipelines.warehouse.duckdb import duckdb_destination
from simulator import Simulator
from sources import registry
from sources.errors import Outcome
from tests.running import env_for
from tests.worlds import small_config

ROWS = 20_000


@dlt.resource(name="runs", primary_key="id", write_disposition="merge")
def runs() -> Any:
    yield [{"id": f"run-{i:06d}", "status": "completed", "detail": "x" * 40} for i in range(ROWS)]


@dlt.resource(name="steps", primary_key="id", write_disposition="merge")
def steps() -> Any:
    yield [{"id": f"step-{i:06d}", "run_id": f"run-{i:06d}"} for i in range(ROWS)]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_each_load_job_leaves_the_file_checkpointed(tmp_path: Path, checkpointing: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's own checkpoint off and one job at a time (as while flowsync loads): dlt's
    destination leaves the load's rows in the write-ahead log (and memory); flowsync's
    leaves only what dlt writes after its jobs (the load's record in `_dlt_loads`)."""
    monkeypatch.setenv("LOAD__WORKERS", "1")
    path = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("set checkpoint_threshold = '1TB'")
    factory = duckdb_jobs.checkpointing_duckdb if checkpointing else dlt.destinations.duckdb
    pipeline = dlt.pipeline("jobs", destination=factory(DuckDbCredentials(conn)),
                            dataset_name="d", pipelines_dir=str(tmp_path / "dlt"))
    pipeline.run([runs(), steps()], loader_file_format="parquet")
    (wal,) = conn.execute("select wal_size from pragma_database_size()").fetchone()
    assert conn.execute("select count(*) from d.runs").fetchone()[0] == ROWS
    assert conn.execute("select count(*) from d.steps").fetchone()[0] == ROWS
    conn.close()
    if checkpointing:
        assert wal.endswith(("bytes", "KiB")), wal
    else:
        assert wal.endswith("MiB"), wal


def test_the_destination_is_dlts_duckdb_by_type_and_name(tmp_path: Path) -> None:
    """dlt records the destination's type in each pipeline's state: warehouses an earlier
    release loaded (with dlt's factory) go on loading without a change of destination."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    mine = duckdb_jobs.checkpointing_duckdb(DuckDbCredentials(conn))
    theirs = dlt.destinations.duckdb(DuckDbCredentials(conn))
    assert (mine.destination_type, mine.destination_name) == (
        theirs.destination_type, theirs.destination_name) == ("dlt.destinations.duckdb", "duckdb")
    assert mine.client_class is not theirs.client_class


def test_a_job_checkpoint_that_does_not_fit_stops_the_run_and_later_runs_get_the_full_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint after a job that does not fit (here: 30 rows of 3.2 MB strings written
    beside the load's first job, which no checkpoint within 32MB can pin) is fatal to
    DuckDB, inside dlt's load: the run stops naming the setting, the file is noted, and the
    next run loads within `memory_limit`, every row once."""
    from tests.expected import HILOS_CONTACTS, contact_truth
    from tests.pipelines.test_memory import big_strings
    from tests.running import read

    real = duckdb_jobs.checkpoint
    starved: list[str] = []

    def starving(sql_client: Any) -> None:
        conn = sql_client.native_connection
        if not starved:
            starved.append(conn.sql("select current_setting('memory_limit')").fetchone()[0])
            conn.execute("set memory_limit = '256MB'")
            big_strings(conn, 30)
            conn.execute(f"set memory_limit = '{starved[0]}'")
        real(sql_client)

    path = tmp_path / "w.duckdb"
    with Simulator(small_config(twilio_executions=0, hilos_contact_runs=3000)) as sim, \
            environment(**{k: v for k, v in env_for(sim, tmp_path).items()
                           if k.startswith(("SOURCES__HILOS", "DLT_"))},
                        FLOWSYNC__STATE_DIR=str(tmp_path / "state")):
        (account,) = accounts(registry.get("hilos"))
        monkeypatch.setattr(duckdb_jobs, "checkpoint", starving)
        with duckdb_destination(str(path)).session() as held:
            failed = run_source(account, held)
        monkeypatch.setattr(duckdb_jobs, "checkpoint", real)
        with duckdb_destination(str(path)).session() as held:
            again = run_source(account, held)
        truth = contact_truth(sim)
    assert starved == ["30.5 MiB"]  # (the load's limit)
    assert failed.outcome is Outcome.FAILED and failed.error is not None
    assert failed.error.startswith(
        f"DuckDB failed inside dlt's load into {path} within destination.duckdb."
        "load_memory_limit 32MB: "), failed.error
    assert "Failed to create checkpoint" in failed.error
    assert (tmp_path / "state" / "duckdb-checkpoint-within-memory-limit").exists()
    assert again.ok, again.error
    assert read(path, HILOS_CONTACTS) == truth
