"""The warehouse is shared: flowsync waits its turn beside readers and other runs, keeps its
working state in the deployment's own folder, and talks to no one but the APIs.

Real processes throughout: `flowsync` as a subprocess, a DuckDB reader in another process,
an advisory lock held by another Postgres session.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from pipelines.lock import command_name, pipeline_lock
from pipelines.warehouse.postgres import ADVISORY_KEYS
from simulator import Simulator
from tests.expected import (
    COMPLETION_RATE,
    HILOS_CONTACTS,
    assert_raw_tables_are_the_truth,
    contact_truth,
    expected_completion_rate,
    rounded,
    visible_floor,
)
from tests.running import FLOWSYNC, env_for, flowsync, read, warehouse
from tests.worlds import small_config

# holds the DuckDB file read-only, as a notebook or BI tool does, for argv[2] seconds
READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def rsim() -> Iterator[Simulator]:
    with Simulator(small_config(twilio_executions=800, hilos_contact_runs=900)) as s:
        yield s


def hold_file(db: Path, seconds: float) -> subprocess.Popen:
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline() == "open\n"
    return reader


def test_a_reader_holding_the_duckdb_file_is_waited_for(rsim: Simulator, tmp_path: Path) -> None:
    db, env, since = tmp_path / "w.duckdb", env_for(rsim, tmp_path), visible_floor(rsim)
    assert flowsync(["run"], env, tmp_path).returncode == 0
    rsim.advance(86_400, new_twilio=100, new_hilos=100, finish_fraction=0.5)
    reader = hold_file(db, 4)
    result = flowsync(["run"], env, tmp_path)
    reader.wait()
    assert result.returncode == 0, result.stderr
    assert (f"flowsync: waiting for the DuckDB file {db}: held by PID {reader.pid} (python"
            in result.stderr)
    assert re.search(rf"flowsync: the DuckDB file {re.escape(str(db))} is free after \d+ s; "
                     "going on", result.stderr)
    assert_raw_tables_are_the_truth(lambda sql: read(db, sql), rsim, since)
    assert rounded(read(db, COMPLETION_RATE)) == rounded(expected_completion_rate(rsim, since))


def test_past_the_wait_limit_a_run_exits_3_and_the_next_one_catches_up(
        rsim: Simulator, tmp_path: Path) -> None:
    db, since = tmp_path / "w.duckdb", visible_floor(rsim)
    assert flowsync(["run", "--no-transform", "--source", "hilos"], env_for(rsim, tmp_path),
                    tmp_path).returncode == 0
    reader = hold_file(db, 60)
    try:
        result = flowsync(["run"], env_for(rsim, tmp_path, LOCK__WAIT_SECONDS="1"), tmp_path)
        transform = flowsync(["transform"], env_for(rsim, tmp_path, LOCK__WAIT_SECONDS="0"),
                             tmp_path)
    finally:
        reader.kill()
        reader.wait()
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""  # nothing started
    assert re.search(rf"^flowsync: gave up waiting for the DuckDB file {re.escape(str(db))} "
                     rf"after 1 s: held by PID {reader.pid} \(python.*\); it is retried on the "
                     r"next run \(or raise lock.wait_seconds\)$", result.stderr, re.M)
    assert transform.returncode == 3, transform.stderr
    again = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert again.returncode == 0, again.stderr
    assert "waiting" not in again.stderr
    assert_raw_tables_are_the_truth(lambda sql: read(db, sql), rsim, since)


def test_a_signal_ends_the_wait_at_once(rsim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert flowsync(["run", "--source", "hilos"], env_for(rsim, tmp_path), tmp_path).returncode == 0
    reader = hold_file(db, 60)
    try:
        proc = subprocess.Popen([FLOWSYNC, "run"], env=env_for(rsim, tmp_path), cwd=tmp_path,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("flowsync: waiting for the DuckDB file ")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        reader.kill()
        reader.wait()
    assert proc.returncode == 143, err
    assert err == f"flowsync: stopped while waiting for the DuckDB file {db}\n"


def test_a_file_that_is_not_duckdb_is_a_configuration_error(rsim: Simulator,
                                                            tmp_path: Path) -> None:
    (tmp_path / "w.duckdb").write_text("these are my notes, not a database\n")
    result = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"flowsync: DuckDB file {tmp_path / 'w.duckdb'} cannot be "
                                    "opened: ")
    assert not (tmp_path / "w.duckdb.state").exists()  # no local state touched
    assert sum(rsim.stats()["requests"].values()) == 0  # nor any API


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_runs_of_both_sources_and_two_transforms_at_once_all_succeed(
        rsim: Simulator, tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    with warehouse(kind, tmp_path) as (dest, rows):
        since, env, where = (visible_floor(rsim), env_for(rsim, tmp_path, **dest),
                              ["--destination", kind])
        assert flowsync(["run", *where], env, tmp_path).returncode == 0
        rsim.advance(86_400, new_twilio=150, new_hilos=150, finish_fraction=0.5)
        commands = [["run", "--source", "hilos"], ["run", "--source", "twilio_studio"],
                    ["transform"], ["transform"]]
        procs = [subprocess.Popen([FLOWSYNC, *c, *where], env=env, cwd=tmp_path, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in commands]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
        # they ran one at a time, each after the one before let go
        assert sum("flowsync: waiting for " in err for _, err in outs) >= 1
        assert_raw_tables_are_the_truth(rows, rsim, since)
        assert rounded(rows(COMPLETION_RATE)) == rounded(expected_completion_rate(rsim, since))


@pytest.mark.postgres
def test_a_run_waits_for_the_advisory_lock_another_host_holds(
        rsim: Simulator, tmp_path: Path, postgres_dsn: str) -> None:
    with warehouse("postgres", tmp_path) as (dest, rows):
        other = psycopg2.connect(dest["DESTINATION__POSTGRES__CREDENTIALS"],
                                 application_name="flowsync run on host-b")
        other.autocommit = True
        other.cursor().execute("select pg_advisory_lock(%s, %s)", ADVISORY_KEYS)
        run = ["run", "--source", "hilos", "--destination", "postgres"]
        given_up = flowsync(run, env_for(rsim, tmp_path, **dest, LOCK__WAIT_SECONDS="1"),
                            tmp_path)
        assert given_up.returncode == 3, given_up.stderr
        assert re.search(r"^flowsync: gave up waiting for the Postgres database \(flowsync's "
                         r"advisory lock\) after 1 s: held by flowsync run on host-b \(server "
                         r"pid \d+, from 127\.0\.0\.1, connected \d+ s ago\)", given_up.stderr,
                         re.M)
        # the other host finishes three seconds into the next run's wait
        threading.Timer(3, other.close).start()
        result = flowsync(run, env_for(rsim, tmp_path, **dest), tmp_path)
        assert result.returncode == 0, result.stderr
        assert "flowsync: waiting for the Postgres database" in result.stderr
        assert rows(HILOS_CONTACTS) == contact_truth(rsim)


def test_a_held_pipeline_is_waited_for_then_given_up(rsim: Simulator, tmp_path: Path) -> None:
    locks = tmp_path / "w.duckdb.state" / "locks"
    with pipeline_lock(locks, "flowsync_hilos", 0):
        result = flowsync(["run", "--source", "hilos"],
                          env_for(rsim, tmp_path, LOCK__WAIT_SECONDS="1"), tmp_path)
    assert result.returncode == 3
    assert (f"flowsync: hilos: gave up waiting for pipeline flowsync_hilos after 1 s: held "
            f"by {command_name()}") in result.stderr
    assert flowsync(["run", "--source", "hilos"], env_for(rsim, tmp_path),
                    tmp_path).returncode == 0


def test_two_deployments_on_one_host_keep_their_own_state(rsim: Simulator,
                                                          tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = env_for(rsim, tmp_path, HOME=str(home))
    del env["DLT_DATA_DIR"], env["DESTINATION__DUCKDB__CREDENTIALS"]
    staging, production = tmp_path / "staging", tmp_path / "production"
    for folder in (staging, production, staging):
        folder.mkdir(exist_ok=True)
        result = flowsync(["run"], env, folder)
        assert result.returncode == 0, result.stderr
        assert "another destination" not in result.stderr  # nobody reset anybody's state
    for folder in (staging, production):
        state = folder / "flowsync.duckdb.state"
        assert sorted(p.name for p in folder.iterdir()) == ["flowsync.duckdb",
                                                           "flowsync.duckdb.state"]
        assert sorted(p.name for p in (state / "pipelines").iterdir()) == [
            "flowsync_hilos", "flowsync_twilio_studio"]
        assert sorted(p.name for p in (state / "locks").iterdir()) == [
            "flowsync_hilos.lock", "flowsync_twilio_studio.lock"]
        # loaded packages (raw rows) are deleted once loaded
        assert [p for p in (state / "pipelines").glob("*/load/*/*") if p.is_dir()] == []
        assert read(folder / "flowsync.duckdb", HILOS_CONTACTS) == contact_truth(rsim)
    assert list(home.iterdir()) == []  # nothing in ~/.dlt
    # the folder is the deployment's to choose
    chosen = tmp_path / "var-lib-flowsync"
    elsewhere = env | {"FLOWSYNC__STATE_DIR": str(chosen)}
    assert flowsync(["run", "--source", "hilos"], elsewhere, staging).returncode == 0
    assert sorted(p.name for p in (chosen / "pipelines").iterdir()) == ["flowsync_hilos"]


# records every connection and name lookup the process makes (Python's audit events)
AUDIT = """
import os, sys
_log = open(os.environ["FLOWSYNC_TEST_AUDIT"], "a", buffering=1)
def _hook(event, args):
    if event == "socket.connect":
        _log.write(f"connect {args[1]!r}\\n")
    elif event == "socket.getaddrinfo":
        _log.write(f"lookup {args[0]!r}\\n")
sys.addaudithook(_hook)
"""


def test_the_demo_from_an_empty_folder_talks_to_loopback_only(tmp_path: Path) -> None:
    hooks, folder, home = tmp_path / "hooks", tmp_path / "empty", tmp_path / "home"
    for d in (hooks, folder, home):
        d.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT)
    audit = tmp_path / "audit.log"
    env = env_for(None, tmp_path, HOME=str(home), PYTHONPATH=str(hooks),
                  FLOWSYNC_TEST_AUDIT=str(audit))
    del env["DLT_DATA_DIR"], env["DESTINATION__DUCKDB__CREDENTIALS"]
    result = flowsync(["demo", "--scale", "small"], env, folder)
    assert result.returncode == 0, result.stderr
    events = audit.read_text().splitlines()
    assert any(e.startswith("connect ('127.0.0.1'") for e in events)  # the hook saw the run
    off_loopback = [e for e in events
                    if not re.match(r"(connect \('127\.0\.0\.1'|lookup '(127\.0\.0\.1|localhost)')",
                                    e)]
    assert off_loopback == []
    assert sorted(p.name for p in folder.iterdir()) == ["flowsync_demo-report.html",
                                                        "flowsync_demo.duckdb"]
    assert list(home.iterdir()) == []


def test_a_waiting_command_names_the_flowsync_run_holding_the_duckdb_file(
        tmp_path: Path) -> None:
    """Issue 26: the holder was known only from DuckDB's English message; a flowsync
    command now says it holds the file, on every platform."""
    import time

    with Simulator(small_config(twilio_executions=300, hilos_contact_runs=200)) as sim:
        # a run that holds the file for many seconds (~300 requests at 200 ms, 8 at once)
        sim.faults.configure(latency_ms=200)
        env = env_for(sim, tmp_path)
        running = subprocess.Popen([FLOWSYNC, "run"], env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        note = tmp_path / "w.duckdb.state" / "locks" / "duckdb-holder"
        for _ in range(200):
            if note.exists():
                break
            time.sleep(0.05)
        waiting = flowsync(["transform"], {**env, "LOCK__WAIT_SECONDS": "1"}, tmp_path)
        running.wait(timeout=300)
    assert running.returncode == 0
    assert waiting.returncode == 3, waiting.stderr
    assert re.search(rf"waiting for the DuckDB file {re.escape(str(tmp_path / 'w.duckdb'))}: "
                     rf"held by flowsync run \(pid {running.pid} on ", waiting.stderr), \
        waiting.stderr
    assert not note.exists()  # let go with the file
