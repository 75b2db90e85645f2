"""What keeps a long run's memory that of one checkpoint load (`pipelines.memory`); the
figures are `python -m benchmarks.memory`'s."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines import memory
from pipelines.warehouse.duckdb import duckdb_destination


def test_arrow_allocates_from_the_c_library_once_a_run_starts() -> None:
    memory.lean_arrow()
    assert pa.default_memory_pool().backend_name == "system"
    table = pa.table({"a": list(range(1000))})
    assert pa.total_allocated_bytes() >= table.nbytes
    memory.release()  # gives freed memory back (glibc), or does nothing; never fails


def test_the_duckdb_warehouse_gives_freed_memory_back_and_caps_its_cache(tmp_path: Path) -> None:
    with duckdb_destination(str(tmp_path / "w.duckdb")).session() as held:
        settings = dict(held.connection.sql(
            "select name, value from duckdb_settings() "
            "where name in ('allocator_background_threads', 'memory_limit')").fetchall())
    assert settings == {"allocator_background_threads": "true", "memory_limit": "244.1 MiB"}
