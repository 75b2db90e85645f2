"""Simulator -> `flowsync run` -> analytics, checked against the simulator's own records.

The expected figures come from the simulator's world directly (each run's generated
outcome and duration), not from the raw tables the SQL reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import Simulator
from simulator.world import TWILIO_RETENTION_SECONDS
from tests.expected import expected_completion_rate, expected_days, rounded
from tests.running import env_for, flowsync, read, warehouse
from tests.worlds import small_config


def test_analytics_match_the_simulators_own_records(tmp_path: Path) -> None:
    with Simulator(small_config(twilio_executions=1000, hilos_contact_runs=1200)) as sim:
        since = sim.world.now - TWILIO_RETENTION_SECONDS
        result = flowsync(["run"], env_for(sim, tmp_path), tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].startswith("analytics: rebuilt in ")
        got = read(tmp_path / "w.duckdb",
                   "select provider, flow_id, day, flow_name, runs_total, runs_finished, "
                   "runs_completed, completion_rate, avg_completion_seconds "
                   "from analytics.completion_rate order by all")
        assert got == expected_completion_rate(sim, since)

        # time passes, runs finish: the next run rebuilds from the merged raw tables
        sim.advance(2 * 86_400, new_twilio=60, new_hilos=90, finish_fraction=0.5)
        assert flowsync(["run"], env_for(sim, tmp_path), tmp_path).returncode == 0
        got = read(tmp_path / "w.duckdb",
                   "select provider, flow_id, day, flow_name, runs_total, runs_finished, "
                   "runs_completed, completion_rate, avg_completion_seconds "
                   "from analytics.completion_rate order by all")
        assert got == expected_completion_rate(sim, since)


def test_transform_alone_and_no_transform(tmp_path: Path) -> None:
    with Simulator(small_config()) as sim:
        env = env_for(sim, tmp_path)
        assert flowsync(["run", "--no-transform"], env, tmp_path).returncode == 0
        assert read(tmp_path / "w.duckdb", "select count(*) from information_schema.tables "
                                           "where table_schema = 'analytics'") == [(0,)]
        result = flowsync(["transform"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("analytics: rebuilt in ")
        for table in ("completion_rate", "flow_runs", "status_counts", "status_funnel",
                      "step_funnel"):
            assert f"{table} " in result.stdout
        assert read(tmp_path / "w.duckdb", "select count(*) from analytics.flow_runs") == [
            (len(sim.world.hilos_runs) + sum(len(sim.world.twilio_retained(f))
                                             for f in sim.world.twilio_flows),)]


FULL = "select * from analytics.completion_rate order by provider, flow_id, day"


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["America/Mexico_City", "Asia/Kolkata"])
def test_days_in_a_zone_west_and_east_equal_the_simulators_records_on_both_databases(
        tmp_path: Path, postgres_dsn: str, zone: str) -> None:
    """Issue 24: every day cut in analytics.timezone, runs_open and the median completion
    time, computed here from the simulator's own records (not the raw tables), equal on
    DuckDB and Postgres."""
    tables = {}
    for kind in ("duckdb", "postgres"):
        work = tmp_path / kind
        work.mkdir()
        with Simulator(small_config(twilio_executions=1000, hilos_contact_runs=1200)) as sim, \
                warehouse(kind, work) as (dest, rows):
            since = sim.world.now - TWILIO_RETENTION_SECONDS
            env = env_for(sim, work, **dest, ANALYTICS__TIMEZONE=zone)
            result = flowsync(["run", "--destination", kind], env, work)
            assert result.returncode == 0, result.stderr
            tables[kind] = rounded(rows(FULL))
            assert tables[kind] == rounded(expected_days(sim, since, zone))
            # some runs fall on another day here than in UTC: the cut is the zone's
            local = rows("select count(*) from analytics.flow_runs where started_day <> "
                         "cast(started_at at time zone 'UTC' as date)")
            assert local[0][0] > 0
    assert tables["duckdb"] == tables["postgres"]


def test_an_unknown_time_zone_exits_2_before_any_request(tmp_path: Path) -> None:
    with Simulator(small_config()) as sim:
        result = flowsync(["run"], env_for(sim, tmp_path, ANALYTICS__TIMEZONE="Mars/Olympus"),
                          tmp_path)
        assert result.returncode == 2
        assert result.stderr == ("flowsync: analytics.timezone must be an IANA time zone name "
                                 "(e.g. America/Mexico_City), not 'Mars/Olympus'\n")
        assert sim.stats()["total"] == 0
