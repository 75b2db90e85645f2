"""dlt's DuckDB destination, the held file checkpointed after each of dlt's load jobs.

DuckDB keeps what a transaction wrote in memory, a 256 KiB block for each column of each
table written, until a checkpoint writes it to the file; a checkpoint then pins those
blocks. One checkpoint after a whole load (a Parquet file copied into each staging table,
then each merge into its final table) held the blocks of every table and its staging twin
at once: a Hilos load of ~350 rows into three tables wrote 146 columns, 36 MiB of blocks,
and its checkpoint failed within 32MB. A checkpoint after each job holds one table's
(README: memory), so dlt's load fits a lower `destination.duckdb.load_memory_limit`.

The factory is dlt's own, with its client's jobs checkpointing after they run; the
destination keeps dlt's DuckDB type (`destination_type`), which dlt records in each
pipeline's state.
"""

from __future__ import annotations

import logging
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.destinations.job_client_impl import SqlLoadJob

from sources.errors import first_line

log = logging.getLogger("flowsync.duckdb")
DLT_TYPE = dlt.destinations.duckdb().destination_type  # "dlt.destinations.duckdb"


def checkpoint(sql_client: Any) -> None:
    """CHECKPOINT on the job's connection. It never fails the job: the job's statements are
    committed (a checkpoint that fails leaves them in the write-ahead log), and dlt would
    run a failed job again, copying its file into the staging table a second time. One
    that does not fit is fatal to DuckDB, and the load's next statement fails with it
    (`DuckDB.load` names it); another error is logged (another thread's transaction: the
    load's own checkpoint follows)."""
    import duckdb

    try:
        sql_client.native_connection.execute("checkpoint")
    except duckdb.Error as exc:
        fatal = isinstance(exc, duckdb.FatalException)
        log.log(logging.WARNING if fatal else logging.INFO,
                "DuckDB checkpoint after a load job %s: %s", "failed" if fatal else "skipped",
                first_line(exc))


class _CopyJob(DuckDbCopyJob):
    """A Parquet file into its (staging) table, then a checkpoint."""

    def run(self) -> None:
        super().run()
        checkpoint(self._sql_client)


class _SqlJob(SqlLoadJob):
    """dlt's SQL (a merge of a staging table into its final one), then a checkpoint."""

    def run(self) -> None:
        super().run()
        checkpoint(self._sql_client)


class _Client(DuckDbClient):
    def create_load_job(self, table: Any, file_path: str, load_id: str,
                        restore: bool = False) -> Any:
        job = super().create_load_job(table, file_path, load_id, restore)
        if type(job) is DuckDbCopyJob:
            return _CopyJob(file_path)
        if type(job) is SqlLoadJob:
            return _SqlJob(file_path)
        return job


class checkpointing_duckdb(dlt.destinations.duckdb):  # noqa: N801 (dlt's factory style)
    """`dlt.destinations.duckdb`, checkpointing after each load job."""

    @property
    def destination_type(self) -> str:
        return DLT_TYPE

    @property
    def client_class(self) -> type[DuckDbClient]:
        return _Client
