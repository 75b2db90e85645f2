"""`flowsync run` and `flowsync demo` as a user runs them: subprocesses, real files, real HTTP."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest

from simulator import Simulator
from tests.expected import (
    HILOS_CONTACTS,
    TWILIO_EXECUTIONS,
    TWILIO_STEPS,
    assert_raw_tables_are_the_truth,
    contact_truth,
    execution_truth,
    step_truth,
    utc,
    visible_floor,
)
from tests.running import (
    FLOWSYNC,
    STAMP,
    env_for,
    flowsync,
    fresh_database,
    read,
    untimed,
    warehouse,
)
from tests.worlds import small_config


@pytest.fixture
def rsim() -> Iterator[Simulator]:
    with Simulator(small_config(twilio_executions=1200, hilos_contact_runs=1500)) as s:
        yield s


def assert_warehouse_is_the_truth(db: Path, sim: Simulator, since: int) -> None:
    assert_raw_tables_are_the_truth(lambda sql: read(db, sql), sim, since)


def test_run_loads_both_sources_into_duckdb(rsim: Simulator, tmp_path: Path) -> None:
    since = visible_floor(rsim)
    result = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert_warehouse_is_the_truth(tmp_path / "w.duckdb", rsim, since)
    # a clean sync has nothing to warn about (dlt's own warnings included)
    assert [line for line in result.stderr.splitlines() if "WARNING" in line] == []
    # every raw row names the load that wrote it
    db = tmp_path / "w.duckdb"
    for table in ("hilos.flow_execution_contacts", "hilos.flow_executions",
                  "twilio_studio.executions", "twilio_studio.execution_steps"):
        schema = table.split(".")[0]
        assert read(db, f"select count(*) from {table} where _dlt_load_id not in "
                        f"(select load_id from {schema}._dlt_loads)") == [(0,)], table
        assert read(db, f"select count(*) from {table} where _dlt_load_id is null") == [(0,)]
    lines = untimed(result.stdout).splitlines()
    assert STAMP.match(result.stdout), result.stdout  # each summary line is dated (UTC)
    assert lines[0] == f"flowsync: loading hilos, twilio_studio into {tmp_path / 'w.duckdb'}"
    assert lines[1].startswith("hilos: ok in ")
    assert "rows fetched: flow_execution_contacts 1,500, flow_executions " in lines[1]
    assert lines[2].startswith("twilio_studio: ok in ")
    rsim.advance(86_400, new_twilio=50, new_hilos=80)
    again = flowsync(["run", "--source", "hilos"], env_for(rsim, tmp_path), tmp_path)
    assert again.returncode == 0, again.stderr
    assert read(tmp_path / "w.duckdb", HILOS_CONTACTS) == contact_truth(rsim)


def test_one_source_failing_does_not_stop_the_other(rsim: Simulator, tmp_path: Path) -> None:
    env = env_for(rsim, tmp_path, SOURCES__HILOS__API_TOKEN="tok-wrong-42")
    result = flowsync(["run"], env, tmp_path)
    assert result.returncode == 2
    assert ("flowsync: hilos: Hilos rejected the credentials (HTTP 401) on GET "
            "/channel/whatsapp/flow-execution") in result.stderr
    assert "tok-wrong-42" not in result.stderr + result.stdout
    assert "twilio_studio: ok" in result.stdout
    assert read(tmp_path / "w.duckdb", "select count(*) from twilio_studio.flows") == [(3,)]
    # the dashboards' "data as of": failed runs recorded too, without secrets
    status = read(tmp_path / "w.duckdb", "select source, last_outcome, last_error, "
                  "last_success_at is not null, newest_started_at is not null, runs "
                  "from analytics.sync_status order by source")
    assert status == [
        ("hilos", "failed", "Hilos rejected the credentials (HTTP 401) on GET "
         "/channel/whatsapp/flow-execution: check sources.hilos.api_token "
         "(SOURCES__HILOS__API_TOKEN)", False, False, 0),
        ("twilio_studio", "ok", None, True, True, len(execution_truth(rsim, visible_floor(rsim)))),
    ]
    fixed = flowsync(["run", "--source", "hilos"], env_for(rsim, tmp_path), tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert read(tmp_path / "w.duckdb", "select last_outcome, last_error, runs from "
                "analytics.sync_status where source = 'hilos'") == [
        ("ok", None, len(contact_truth(rsim)))]


@pytest.mark.parametrize("case,args,extra,message", [
    ("nothing configured", ["run"], {}, "flowsync: no source is configured"),
    ("source not configured", ["run", "--source", "twilio_studio"], {},
     "flowsync: twilio_studio is not configured: set sources.twilio_studio.account_sid"),
    ("duckdb named like a dataset", ["run"], {"SOURCES__HILOS__API_TOKEN": "x",
                                              "DESTINATION__DUCKDB__CREDENTIALS": "hilos.duckdb"},
     "flowsync: duckdb: DuckDB file name 'hilos.duckdb' clashes with dataset 'hilos'"),
    ("postgres unreachable", ["run", "--destination", "postgres"],
     {"SOURCES__HILOS__API_TOKEN": "x",
      "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://u:pw-secret@127.0.0.1:1/db"},
     "flowsync: postgres: Postgres is unreachable: "),
    ("postgres not configured", ["run", "--destination", "postgres"],
     {"SOURCES__HILOS__API_TOKEN": "x"}, "flowsync: postgres: Postgres is not configured"),
])
def test_misconfiguration_exits_2_with_one_line(tmp_path: Path, case: str, args: list[str],
                                                extra: dict, message: str) -> None:
    result = flowsync(args, env_for(None, tmp_path, **extra), tmp_path)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("flowsync")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
    assert "pw-secret" not in result.stderr


def test_unreachable_api_fails_with_exit_1_naming_the_source(tmp_path: Path) -> None:
    env = env_for(None, tmp_path, SOURCES__HILOS__API_TOKEN="x",
                  SOURCES__HILOS__BASE_URL="http://127.0.0.1:9")
    result = flowsync(["run"], env, tmp_path)
    assert result.returncode == 1
    assert ("flowsync: hilos: Hilos: GET /channel/whatsapp/flow-execution failed after 6 "
            "attempts; last: connection failed") in result.stderr


@pytest.mark.parametrize("kind,last", [
    ("maintenance", "HTTP 200 with a text/html body, not the API's JSON"),
    ("wrong_shape", "HTTP 200 not in the API's shape: expected a page with the list `results`"),
])
def test_a_200_that_is_not_the_api_is_retried_then_fails_with_exit_1_naming_the_endpoint(
        rsim: Simulator, tmp_path: Path, kind: str, last: str) -> None:
    path = "/channel/whatsapp/flow-execution-contact"
    rsim.faults.configure(queue=[{"kind": kind, "path_contains": path}] * 6)
    result = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert result.returncode == 1, result.stderr
    assert rsim.stats()["faults"] == {kind: 6}  # retried: six attempts, then given up
    errors = [line for line in result.stderr.splitlines() if line.startswith("flowsync:")]
    assert errors == [f"flowsync: hilos: Hilos: GET {path} failed after 6 attempts; last: {last}"
                      + ("" if kind == "maintenance" else ", got an object without the list "
                         "`results`")]
    assert "twilio_studio: ok" in result.stdout
    # the API is healthy again: the next run loads everything
    again = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert again.returncode == 0, again.stderr
    assert read(tmp_path / "w.duckdb", HILOS_CONTACTS) == contact_truth(rsim)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill: {proc.communicate()}")
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.005)
    proc.kill()
    pytest.fail("the kill point never came")


@pytest.mark.parametrize("first_run", [True, False], ids=["first-run", "later-run"])
def test_killed_during_extraction_the_next_run_completes_everything(
        rsim: Simulator, tmp_path: Path, first_run: bool) -> None:
    since = visible_floor(rsim)
    env = env_for(rsim, tmp_path)
    if not first_run:
        assert flowsync(["run"], env, tmp_path).returncode == 0
        rsim.advance(86_400, new_twilio=300, new_hilos=200, finish_fraction=0.5)
    rsim.faults.configure(latency_ms=5)
    rsim.reset_stats()
    proc = subprocess.Popen([FLOWSYNC, "run"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # mid-way through the twilio steps: hilos is loaded, twilio is being extracted
    _kill_when(proc, lambda: rsim.stats()["requests"].get("twilio.steps.list", 0) > 50)
    rsim.faults.configure(latency_ms=0)
    result = flowsync(["run"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_warehouse_is_the_truth(tmp_path / "w.duckdb", rsim, since)


def test_killed_during_load_the_next_run_completes_the_load(rsim: Simulator, tmp_path: Path) -> None:
    since = visible_floor(rsim)
    env = env_for(rsim, tmp_path)
    normalized = (tmp_path / "w.duckdb.state" / "pipelines" / "flowsync_twilio_studio" / "load"
                  / "normalized")
    proc = subprocess.Popen([FLOWSYNC, "run", "--source", "twilio_studio"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _kill_when(proc, lambda: normalized.is_dir() and any(normalized.iterdir()))
    result = flowsync(["run"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "completing the load an interrupted run left pending" in result.stderr
    assert_warehouse_is_the_truth(tmp_path / "w.duckdb", rsim, since)


@pytest.mark.postgres
def test_run_loads_into_postgres(rsim: Simulator, tmp_path: Path, postgres_dsn: str) -> None:
    with warehouse("postgres", tmp_path) as (dest, rows):
        since = visible_floor(rsim)
        result = flowsync(["run", "--destination", "postgres"], env_for(rsim, tmp_path, **dest),
                          tmp_path)
        assert result.returncode == 0, result.stderr
        assert rows(HILOS_CONTACTS) == contact_truth(rsim)
        assert rows(TWILIO_EXECUTIONS) == execution_truth(rsim, since)
        assert rows(TWILIO_STEPS) == step_truth(rsim, since)


def test_demo_runs_offline_and_prints_completion_rates(tmp_path: Path) -> None:
    # the user's own accounts and dbt project are not the demo's
    env = env_for(None, tmp_path, SOURCES__HILOS__ACCOUNTS='{"acme": {"api_token": "t"}}',
                  TRANSFORM__DBT_PROJECT=str(tmp_path / "nowhere"))
    env.pop("DESTINATION__DUCKDB__CREDENTIALS")
    result = flowsync(["demo", "--scale", "small", "--duckdb", "demo.duckdb"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Completion rate per flow (test runs excluded;" in out
    header = next(line for line in out.splitlines() if line.startswith("provider"))
    assert header.split() == ["provider", "flow", "runs", "finished", "completed", "completion"]
    body = [line for line in out.splitlines() if line.startswith(("hilos ", "twilio_studio "))]
    assert len(body) == 6  # 2 hilos flows and the runs without a flow, 3 twilio flows
    assert [line.split()[:3] for line in body if "(no flow)" in line] == [
        ["hilos", "(no", "flow)"]]
    assert f"the warehouse:  {tmp_path / 'demo.duckdb'}" in out
    # nothing of the demo lands in the user's dlt folder
    assert not (tmp_path / "dlt").exists()
    # a second demo replaces its own file; any other file is refused
    assert flowsync(["demo", "--scale", "small", "--duckdb", "demo.duckdb"], env,
                    tmp_path).returncode == 0
    duckdb.connect(str(tmp_path / "mine.duckdb")).close()
    refused = flowsync(["demo", "--scale", "small", "--duckdb", "mine.duckdb"], env, tmp_path)
    assert refused.returncode == 2
    assert "was not made by `flowsync demo`" in refused.stderr


def test_a_flow_failing_after_retries_exits_1_and_the_next_run_catches_up(
        rsim: Simulator, tmp_path: Path) -> None:
    since = visible_floor(rsim)
    failing = rsim.world.twilio_flows[1].sid
    rsim.faults.configure(retry_after=0, queue=[
        {"kind": "503", "path_contains": f"{failing}/Executions"}] * 6)
    env = env_for(rsim, tmp_path)
    result = flowsync(["run", "--source", "twilio_studio"], env, tmp_path)
    assert result.returncode == 1
    assert (f"flowsync: twilio_studio: flow {failing}: Twilio Studio: GET "
            "/v2/Flows/{FlowSid}/Executions failed after 6 attempts; last: HTTP 503") in result.stderr
    # the other flows loaded, and the analytics were rebuilt from them
    assert "analytics: rebuilt in " in result.stdout
    loaded = {r[1] for r in read(tmp_path / "w.duckdb", TWILIO_EXECUTIONS)}
    assert loaded == {f.sid for f in rsim.world.twilio_flows} - {failing}
    again = flowsync(["run", "--source", "twilio_studio"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert read(tmp_path / "w.duckdb", TWILIO_EXECUTIONS) == execution_truth(rsim, since)
    assert read(tmp_path / "w.duckdb", TWILIO_STEPS) == step_truth(rsim, since)


@pytest.mark.parametrize("source,path,faults,message", [
    # (each flow's first page links to itself as `...Page=0`: known at once, read once)
    ("twilio_studio", "/Executions", 3, "Twilio Studio: GET /v2/Flows/{FlowSid}/Executions: "
     "the next-page link repeats a page already read; the listing is stopped"),
    ("hilos", "/flow-execution-contact", 2, "Hilos: GET /channel/whatsapp/flow-execution-contact:"
     " page 2 repeats page 1 (the API ignores the page number?); the listing is stopped"),
])
def test_a_listing_that_would_never_end_stops_and_the_next_run_catches_up(
        rsim: Simulator, tmp_path: Path, source: str, path: str, faults: int,
        message: str) -> None:
    since = visible_floor(rsim)
    env = env_for(rsim, tmp_path)
    # the first page of each of the 3 flows (Twilio), the first two pages (Hilos): enough
    # to loop forever
    rsim.faults.configure(queue=[{"kind": "self_link", "path_contains": path}] * faults)
    t0 = time.monotonic()
    result = flowsync(["run", "--source", source], env, tmp_path)
    assert time.monotonic() - t0 < 60
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert rsim.stats()["faults"] == {"self_link": faults}
    assert sum(rsim.stats()["requests"].values()) < 50
    # what was read before the listing broke is loaded: Hilos' first page of 1,000 runs,
    # Twilio's first page of each flow (all of its executions here)
    table = "hilos.flow_execution_contacts" if source == "hilos" else "twilio_studio.executions"
    assert read(tmp_path / "w.duckdb", f"select count(*) from {table}") == [
        (1000,) if source == "hilos" else (len(execution_truth(rsim, since)),)]
    again = flowsync(["run", "--source", source], env, tmp_path)
    assert again.returncode == 0, again.stderr
    if source == "hilos":
        assert read(tmp_path / "w.duckdb", HILOS_CONTACTS) == contact_truth(rsim)
    else:
        assert read(tmp_path / "w.duckdb", TWILIO_EXECUTIONS) == execution_truth(rsim, since)


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["url", "keywords"])
def test_a_postgres_dsn_without_a_password_works_as_libpq_allows(
        rsim: Simulator, tmp_path: Path, postgres_dsn: str, form: str) -> None:
    with fresh_database("flowsync_nopw") as db:
        # the test server trusts loopback: no password at all, as trust/peer/.pgpass run
        dsn = (f"postgresql://postgres@127.0.0.1:5432/{db}" if form == "url" else
               f"host=127.0.0.1 port=5432 user=postgres dbname={db} sslmode=disable")
        env = env_for(rsim, tmp_path, DESTINATION__POSTGRES__CREDENTIALS=dsn)
        result = flowsync(["run", "--source", "hilos", "--destination", "postgres"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"into postgres://postgres@127.0.0.1:5432/{db}" in result.stdout
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(HILOS_CONTACTS)
            assert [tuple(utc(v) for v in r) for r in cur.fetchall()] == contact_truth(rsim)
        conn.close()


def test_dlt_staging_copies_are_emptied_after_each_load(rsim: Simulator, tmp_path: Path) -> None:
    """Issue 26: dlt's `*_staging` schemas kept a full second copy of every merged table."""
    result = flowsync(["run"], env_for(rsim, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "w.duckdb"
    for table in ("hilos_staging.flow_execution_contacts", "hilos_staging.flow_executions",
                  "twilio_studio_staging.executions", "twilio_studio_staging.execution_steps"):
        assert read(db, f"select count(*) from {table}") == [(0,)], table
    assert read(db, "select count(*) from hilos.flow_execution_contacts") == [(1500,)]
