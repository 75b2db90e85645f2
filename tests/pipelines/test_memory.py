"""What keeps a long run's memory that of one checkpoint load (`pipelines.memory`); the
figures are `python -m benchmarks.memory`'s."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines import memory
from pipelines.accounts import accounts
from pipelines.config import environment
from pipelines.runner import run_source
from pipelines.warehouse.duckdb import DuckDB, duckdb_destination
from simulator import Simulator
from sources import registry
from sources.errors import ConfigError, Outcome
from tests.running import env_for
from tests.worlds import small_config


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


def test_each_load_on_the_held_duckdb_file_is_checkpointed(tmp_path: Path) -> None:
    """Issue 27: held open for the whole command, DuckDB never checkpointed on its own; a
    first load's rows piled up in its write-ahead log and memory until a checkpoint no
    longer fit in `memory_limit`. After each load the log is written into the file."""
    path = tmp_path / "w.duckdb"
    wal = Path(f"{path}.wal")
    sizes: list[int] = []
    with Simulator(small_config(twilio_executions=300, hilos_contact_runs=0)) as sim, \
            environment(**{k: v for k, v in env_for(sim, tmp_path).items()
                           if k.startswith(("SOURCES__TWILIO", "DLT_"))},
                        FLOWSYNC__STATE_DIR=str(tmp_path / "state"), CHECKPOINT__ROWS="300",
                        SOURCES__TWILIO_STUDIO__MAX_WORKERS="2"):
        (account,) = accounts(registry.get("twilio_studio"))
        with duckdb_destination(str(path)).session() as held:
            loads = held.load

            def load(pipeline: Any) -> list[str]:
                ids = loads(pipeline)
                sizes.append(wal.stat().st_size if wal.exists() else 0)
                return ids

            held.load = load  # type: ignore[method-assign]
            result = run_source(account, held)
            rows = held.connection.sql(
                "select count(*) from twilio_studio.execution_steps").fetchone()[0]
    assert result.ok, result.error
    assert result.checkpoints >= 3 and rows > 600, (result.rows, rows, sizes)
    assert sizes == [0] * result.checkpoints


@pytest.mark.parametrize(("limits", "while_loading"), [
    ({}, "30.5 MiB"),  # the defaults: 256MB, 32MB while loading
    ({"DESTINATION__DUCKDB__MEMORY_LIMIT": "16MB"}, "15.2 MiB"),  # lower: it bounds both
    ({"DESTINATION__DUCKDB__LOAD_MEMORY_LIMIT": "1GB"}, "244.1 MiB"),
])
def test_duckdb_caches_less_while_dlt_loads_and_has_its_full_limit_for_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: dict[str, str],
        while_loading: str) -> None:
    """Issue 27: the loads merge into tables that grow with the account, and DuckDB cached
    what they read up to `memory_limit`, which a 10k first load never fills; a checkpoint
    that does not fit is fatal, so it (and the analytics) get the full limit."""
    from pipelines.warehouse import Destination

    seen: list[str] = []

    def setting(conn: Any) -> str:
        return conn.sql("select current_setting('memory_limit')").fetchone()[0]

    with environment(**limits):
        destination = duckdb_destination(str(tmp_path / "w.duckdb"))
        with destination.session() as held:
            monkeypatch.setattr(Destination, "load",
                                lambda self, pipeline: seen.append(setting(self.connection))
                                or ["1"])
            assert held.load(None) == ["1"]
            seen.append(setting(held.connection))
    full = "15.2 MiB" if limits.get("DESTINATION__DUCKDB__MEMORY_LIMIT") else "244.1 MiB"
    assert seen == [while_loading, full]


def test_a_memory_limit_duckdb_cannot_read_is_refused_before_the_run(tmp_path: Path) -> None:
    with environment(DESTINATION__DUCKDB__LOAD_MEMORY_LIMIT="80%"), \
            pytest.raises(ConfigError) as caught:
        from pipelines import config

        config.check()
    assert "destination.duckdb.load_memory_limit" in str(caught.value)
    assert "must be a memory size such as 256MB or 1GB" in str(caught.value)


def big_strings(conn: Any, n: int) -> None:
    """`n` rows of 3.2 MB strings, far bigger than DuckDB's blocks, in table `big`, in one
    transaction (as dlt loads)."""
    import duckdb

    conn.execute("create table if not exists big (v varchar)")
    conn.execute("begin")
    try:
        for _ in range(n):
            conn.execute("insert into big select repeat(md5(random()::varchar), 100000)")
        conn.execute("commit")
    except Exception:
        with suppress(duckdb.TransactionException):  # (a failed commit rolled back)
            conn.execute("rollback")
        raise


@pytest.mark.parametrize("careful", [False, True])
def test_duckdb_loads_on_one_thread_and_has_its_threads_back_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, careful: bool) -> None:
    """Issue 27: DuckDB's second thread cost a load 0.3-0.55 CPU-s at 20,000 Twilio
    executions and saved no time on a small machine. Within the load limit or without
    it (a file noted `careful`), dlt's load and the checkpoint run on one thread; the
    threads the connection had (here 3) are back after, for the analytics."""
    from pipelines.warehouse import Destination

    seen: list[int] = []

    def threads(conn: Any) -> int:
        return int(conn.sql("select current_setting('threads')").fetchone()[0])

    destination = duckdb_destination(str(tmp_path / "w.duckdb"))
    with destination.session() as held:
        held.connection.execute("set threads = 3")
        if careful:
            held.careful.parent.mkdir(parents=True, exist_ok=True)
            held.careful.write_text("an earlier failure\n")
        monkeypatch.setattr(Destination, "load",
                            lambda self, pipeline: seen.append(threads(self.connection))
                            or ["1"])
        checkpoint = held._checkpoint
        monkeypatch.setattr(held, "_checkpoint",
                            lambda reduced: seen.append(threads(held.connection))
                            or checkpoint(reduced))
        assert held.load(None) == ["1"]
        seen.append(threads(held.connection))
    assert seen == [1, 1, 3]


def hilos_first_load(tmp_path: Path, runs: int, **settings: str) -> tuple[list, list]:
    """A first load of `runs` Hilos contact runs into a held DuckDB file, with `settings`:
    the contact runs loaded, and the simulator's."""
    from tests.expected import HILOS_CONTACTS, contact_truth
    from tests.running import read

    path = tmp_path / "w.duckdb"
    with Simulator(small_config(twilio_executions=0, hilos_contact_runs=runs)) as sim, \
            environment(**{k: v for k, v in env_for(sim, tmp_path).items()
                           if k.startswith(("SOURCES__HILOS", "DLT_"))},
                        FLOWSYNC__STATE_DIR=str(tmp_path / "state"), **settings):
        (account,) = accounts(registry.get("hilos"))
        with duckdb_destination(str(path)).session() as held:
            result = run_source(account, held)
        assert result.ok, result.error
        return read(path, HILOS_CONTACTS), contact_truth(sim)


class Rows:
    """What the fake load below is handed: `n` big rows, and whether dlt keeps them to
    retry when their load fails (a failed load's package is pending)."""

    def __init__(self, n: int, has_pending_data: bool = True) -> None:
        self.n = n
        self.has_pending_data = has_pending_data


@pytest.mark.parametrize("fails", ["load", "checkpoint"])
def test_duckdb_failing_within_the_load_limit_leaves_later_runs_the_full_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        fails: str) -> None:
    """DuckDB may not fit a load, or its checkpoint, in `load_memory_limit`. A load that
    does not fit is loaded again at once within `memory_limit`; a checkpoint that does not
    fit is fatal to the database, and the run fails with the error. Either way this file's
    later loads and checkpoints get the full `memory_limit`: no run fails the same way."""
    from pipelines.warehouse import Destination
    from sources.errors import FlowsyncError

    path = tmp_path / "w.duckdb"

    limits: list[str] = []

    def load(self: Any, rows: Rows) -> list[str]:
        limits.append(self.connection.sql("select current_setting('memory_limit')").fetchone()[0])
        if fails == "checkpoint" and rows.n > 1:  # the load fits, its checkpoint does not
            self.connection.execute("set memory_limit = '256MB'")
            big_strings(self.connection, rows.n)
            self.connection.execute(f"set memory_limit = '{limits[-1]}'")
        else:
            big_strings(self.connection, rows.n)
        return ["1"]

    monkeypatch.setattr(Destination, "load", load)
    with environment(DESTINATION__DUCKDB__LOAD_MEMORY_LIMIT="32MB",
                     FLOWSYNC__STATE_DIR=str(tmp_path / "state")):
        with duckdb_destination(str(path)).session() as held:
            assert held.load(Rows(1)) == ["1"]  # (a small one fits)
            if fails == "load":
                assert held.load(Rows(30)) == ["1"]  # loaded again, within 256MB
                assert f"{path}: loading again within destination.duckdb.memory_limit " \
                       "256MB" in caplog.text
            else:
                with pytest.raises(FlowsyncError) as caught:
                    held.load(Rows(30))
        if fails == "checkpoint":
            assert str(caught.value).startswith(
                f"DuckDB could not checkpoint {path} within destination.duckdb."
                "load_memory_limit 32MB: ")
            assert str(caught.value).endswith(
                "The load is committed; later runs load this file within "
                "destination.duckdb.memory_limit 256MB")
        with duckdb_destination(str(path)).session() as held:
            assert held.load(Rows(30)) == ["1"]
            count = held.connection.sql("select count(*) from big").fetchone()[0]
    assert count == 61  # (a failed commit keeps none)
    assert limits == ["30.5 MiB", "30.5 MiB", "244.1 MiB"] + ["244.1 MiB"] * (fails == "load")
    assert not Path(f"{path}.wal").exists() or Path(f"{path}.wal").stat().st_size == 0


def test_a_load_that_does_not_fit_is_not_loaded_again_where_nothing_is_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB refusing a commit for want of memory after dlt's load (nothing left to retry):
    loading again would load nothing and lose the load's ids. The run fails with it."""
    import duckdb

    from pipelines.warehouse import Destination

    monkeypatch.setattr(Destination, "load", lambda self, rows: big_strings(self.connection, rows.n))
    with environment(DESTINATION__DUCKDB__LOAD_MEMORY_LIMIT="32MB",
                     FLOWSYNC__STATE_DIR=str(tmp_path / "state")), \
            duckdb_destination(str(tmp_path / "w.duckdb")).session() as held, \
            pytest.raises(duckdb.TransactionException, match="failed to pin block"):
        held.load(Rows(30, has_pending_data=False))


def test_a_real_load_that_does_not_fit_is_loaded_again_in_the_same_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """dlt's own load, within a limit no load fits: DuckDB rolls the insert back, dlt keeps
    the job to retry, and the run loads it again within `memory_limit`: every row once."""
    loaded, truth = hilos_first_load(tmp_path, 3000, DESTINATION__DUCKDB__LOAD_MEMORY_LIMIT="2MB")
    assert "load_memory_limit 2MB (Out of Memory Error: " in caplog.text  # it did not fit
    path = tmp_path / "w.duckdb"
    assert f"{path}: loading again within destination.duckdb.memory_limit" in caplog.text
    assert (tmp_path / "state" / "duckdb-checkpoint-within-memory-limit").exists()
    assert loaded == truth


def test_a_checkpoint_that_does_not_fit_in_the_memory_limit_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint that fails for want of memory is fatal to DuckDB: every later statement
    fails with "database has been invalidated", naming no cause. It was logged at info and
    the run failed at its next load; now the run stops there, naming the setting."""
    import duckdb

    from pipelines.warehouse import Destination

    class Held:
        def execute(self, sql: str) -> Any:
            if sql in ("select current_setting('threads')", "set threads = 1",
                       "set threads = 2"):  # (the load's one thread, and back)
                return self
            assert sql == "checkpoint"
            raise duckdb.FatalException("Failed to create checkpoint because of error: failed "
                                        "to pin block of size 2.1 MiB (59.3 MiB/61.0 MiB used)")

        def fetchone(self) -> tuple[str]:
            return ("2",)

    monkeypatch.setattr(Destination, "load", lambda self, pipeline: ["1"])
    held = DuckDB(tmp_path / "w.duckdb", tmp_path, {"memory_limit": "64MB"}, connection=Held())
    with pytest.raises(ConfigError) as caught:
        held.load(None)
    assert str(caught.value) == (
        f"DuckDB could not checkpoint {tmp_path / 'w.duckdb'} within its memory limit "
        "(destination.duckdb.memory_limit 64MB): Failed to create checkpoint because of error: "
        "failed to pin block of size 2.1 MiB (59.3 MiB/61.0 MiB used). The load is committed; "
        "raise the limit (DESTINATION__DUCKDB__MEMORY_LIMIT) and run again")
    assert caught.value.outcome == Outcome.CONFIG


ARENAS = """
import ctypes, ctypes.util, sys, threading
from pipelines import memory
if sys.argv[1] == "few":
    memory.few_arenas()
def work():
    for _ in range(2000):
        x = [bytes(64) for _ in range(50)]
threads = [threading.Thread(target=work) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fdopen.restype = ctypes.c_void_p
out = ctypes.c_void_p(libc.fdopen(1, b"w"))
libc.malloc_info(0, out)
libc.fflush(out)
"""


@pytest.mark.skipif(memory._libc() is None, reason="the C library is not glibc")
def test_threads_share_two_allocation_arenas_once_a_run_starts() -> None:
    """Issue 27: glibc gives threads their own arenas (up to 8 per core), and what the
    sources' threads freed stayed spread over them: a first load grew with its loads."""
    import subprocess
    import sys

    def arenas(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parents[2]).stdout
        return out.count("<heap nr=")

    assert arenas("few") == memory.ARENAS < arenas("many")


MMAP = """
import ctypes, ctypes.util, sys
from pipelines import memory
if sys.argv[1] == "fixed":
    memory.fixed_mmap_threshold()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
class Info(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
libc.free(libc.malloc(4 << 20))  # a page's body, freed: glibc raises its threshold past it
mapped = libc.mallinfo2().hblkhd
block = libc.malloc(512 << 10)  # the next big block: its own mapping, or the heap's
print(libc.mallinfo2().hblkhd - mapped)
"""


@pytest.mark.skipif(memory._libc() is None or not hasattr(memory._libc(), "mallinfo2"),
                    reason="the C library is not glibc 2.33 or later")
def test_big_blocks_keep_their_own_mapping_once_a_run_starts() -> None:
    """Issue 27: glibc raised its mmap threshold each time a big block was freed, so the
    bodies and Arrow buffers of later pages came from the heap, and freed, stayed there:
    the heap held 75-120 MiB free at the end of each extract of a big Twilio load."""
    import subprocess
    import sys

    def mapped(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", MMAP, mode], capture_output=True,
                                  text=True, check=True, cwd=Path(__file__).parents[2]).stdout)

    assert mapped("dynamic") == 0  # from the heap
    assert mapped("fixed") >= 512 << 10


def test_dlt_loads_one_file_at_a_time_into_duckdb(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each append pins DuckDB buffers of its own, within one memory limit: five files of
    one table loading at once failed within 64MB. dlt's jobs run one after another."""
    import threading
    import time

    from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

    running, most, lock = [0], [0], threading.Lock()
    run = DuckDbCopyJob.run

    def counted(self: Any) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)  # (room for another job to start meanwhile)
            run(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(DuckDbCopyJob, "run", counted)
    loaded, truth = hilos_first_load(tmp_path, 2000, DATA_WRITER__FILE_MAX_ITEMS="300")
    assert loaded == truth
    assert most == [1]
