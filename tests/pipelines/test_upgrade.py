"""Every release takes over a warehouse and working folder that an earlier one wrote.

Issue 22: a warehouse built by 7f7a917, then `flowsync run` with the next release, failed
every run forever (the raw rows' new `_dlt_load_id` added NOT NULL to tables with rows),
and on Postgres a BI view on the old `analytics.stg_*` tables failed every transform.
Here each earlier release (from this repository's history) builds a warehouse on DuckDB
and on Postgres, an analyst adds views, a page-repeat bug leaves duplicate steps; then
today's release runs: exit 0, only what changed is fetched, the data equal a history run
by today's release from the start, the views intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg2
import pytest

from simulator import Simulator
from tests.expected import analytics_tables as analytics
from tests.expected import assert_raw_tables_are_the_truth, visible_floor
from tests.releases import RELEASES, UNCHECKED_PAGES, run_release, unpack
from tests.running import env_for, flowsync, warehouse
from tests.worlds import small_config

KINDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def world() -> Simulator:
    return Simulator(small_config(twilio_executions=300, hilos_contact_runs=400))



@contextmanager
def connected(kind: str, dest: dict[str, str]) -> Iterator:
    if kind == "duckdb":
        con = duckdb.connect(dest["DESTINATION__DUCKDB__CREDENTIALS"])
    else:
        con = psycopg2.connect(dest["DESTINATION__POSTGRES__CREDENTIALS"])
        con.autocommit = True
    try:
        yield con.cursor()
    finally:
        con.close()


_today: dict[str, dict[str, list[tuple]]] = {}


def today_from_the_start(kind: str, tmp: Path) -> dict[str, list[tuple]]:
    """The analytics of the same history run by today's release throughout."""
    if kind not in _today:
        tmp.mkdir()
        with world() as sim, warehouse(kind, tmp) as (dest, read):
            env = env_for(sim, tmp, **dest)
            assert flowsync(["run", "--destination", kind], env, tmp).returncode == 0
            sim.advance(86_400, new_twilio=40, new_hilos=60, finish_fraction=0.5)
            assert flowsync(["run", "--destination", kind], env, tmp).returncode == 0
            _today[kind] = analytics(read)
    return _today[kind]


@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("kind", KINDS)
def test_a_warehouse_of_an_earlier_release_is_taken_over(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest, kind: str, release: str) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    tree = unpack(release, tmp_path_factory.getbasetemp() / "releases")
    expected = today_from_the_start(kind, tmp_path / "today")
    work = tmp_path / "work"
    work.mkdir()
    with world() as sim, warehouse(kind, work) as (dest, read):
        env = env_for(sim, work, **dest)
        since = visible_floor(sim)
        old = run_release(tree, ["run", "--destination", kind], env, work)
        assert old.returncode == 0, old.stderr
        schema = "main" if kind == "duckdb" else "public"
        stg = read("select count(*) from information_schema.tables where table_schema = "
                   "'analytics' and table_name = 'stg_twilio_executions'") == [(1,)]
        with connected(kind, dest) as cur:
            cur.execute(f"create view {schema}.bi_runs as select provider, status, count(*) "
                        "as runs from analytics.flow_runs group by 1, 2")
            if stg:  # 7f7a917 built its staging models where analysts could see them
                cur.execute(f"create view {schema}.bi_stg as "
                            "select * from analytics.stg_twilio_executions")
            # what a Steps page naming itself left (issue 22): 40 steps stored twice
            if release in UNCHECKED_PAGES:
                cur.execute("insert into twilio_studio.execution_steps select * from "
                            "twilio_studio.execution_steps where sid in (select sid from "
                            "twilio_studio.execution_steps order by sid limit 40)")
        sim.advance(86_400, new_twilio=40, new_hilos=60, finish_fraction=0.5)
        sim.reset_stats()
        new = flowsync(["run", "--destination", kind], env, work)
        assert new.returncode == 0, new.stderr
        incremental = sim.stats()["total"]
        assert "flowsync: warehouse upgraded: " in new.stderr
        if release in UNCHECKED_PAGES:
            assert "twilio_studio.execution_steps: 40 repeated row(s) removed" in new.stderr
        # nothing fetched again in full: a first load of this world takes 300+ requests
        assert incremental < 120, incremental
        assert_raw_tables_are_the_truth(read, sim, since)
        assert analytics(read) == expected
        # the analyst's view reads the rebuilt table
        assert sorted(read(f"select * from {schema}.bi_runs")) == sorted(read(
            "select provider, status, count(*) from analytics.flow_runs group by 1, 2"))
        if stg:
            assert ("analytics.stg_twilio_executions is no longer refreshed: flowsync builds "
                    "it as analytics_internal.stg_twilio_executions now") in new.stderr
            assert f"{schema}.bi_stg" in new.stderr
            assert read(f"select count(*) from {schema}.bi_stg")[0][0] > 0
        assert read("select version from analytics_internal.flowsync_layout order by 1") == [
            (1,), (2,), (3,), (4,)]
        # one account then: every row is account default's, its pipeline carried on
        for table in ("hilos.flow_execution_contacts", "twilio_studio.executions",
                      "twilio_studio.execution_steps", "analytics.flow_runs",
                      "analytics.sync_status"):
            assert read(f"select distinct account from {table}") == [("default",)], table
        again = flowsync(["run", "--destination", kind], env, work)
        assert again.returncode == 0, again.stderr
        assert "upgraded" not in again.stderr and "no longer refreshed" not in again.stderr


def test_a_warehouse_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    with world() as sim:
        env = env_for(sim, tmp_path)
        assert flowsync(["run", "--source", "hilos"], env, tmp_path).returncode == 0
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            con.execute("insert into analytics_internal.flowsync_layout "
                        "values (99, 'from the future', now(), '9.0')")
        sim.reset_stats()
        result = flowsync(["run", "--source", "hilos"], env, tmp_path)
        assert result.returncode == 2
        assert ("flowsync: the warehouse was written by a newer flowsync (layout 99; this "
                "one knows up to 4): upgrade flowsync to use it") in result.stderr
        assert sim.stats()["total"] == 0
