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
from tests.running import env_for, flowsync, read, untimed, warehouse
from tests.worlds import small_config


def test_analytics_match_the_simulators_own_records(tmp_path: Path) -> None:
    with Simulator(small_config(twilio_executions=1000, hilos_contact_runs=1200)) as sim:
        since = sim.world.now - TWILIO_RETENTION_SECONDS
        result = flowsync(["run"], env_for(sim, tmp_path), tmp_path)
        assert result.returncode == 0, result.stderr
        assert untimed(result.stdout).splitlines()[-1].startswith("analytics: rebuilt in ")
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
        assert untimed(result.stdout).startswith("analytics: rebuilt in ")
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


def _bfs(definition: dict) -> dict[str, int]:
    """Fewest transitions from the initial state to each state, walked here in Python."""
    nexts = {s["name"]: [t["next"] for t in s["transitions"] if t.get("next")]
             for s in definition["states"]}
    start = definition["initial_state"]
    depth, queue = {start: 0}, [start]
    for widget in queue:  # grows while read: breadth first
        for following in nexts.get(widget, []):
            if following not in depth:
                depth[following] = depth[widget] + 1
                queue.append(following)
    return depth


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_widgets_are_typed_and_placed_by_the_flows_definitions(tmp_path: Path,
                                                                version: str) -> None:
    """Issue 24: widgets came sorted by reach, not by their place in the flow; v2 lists
    leave the definition out (each flow is fetched whole, once per revision); v1 has
    none (type and depth null)."""
    with Simulator(small_config(twilio_executions=400)) as sim:
        env = env_for(sim, tmp_path, SOURCES__TWILIO_STUDIO__API_VERSION=version)
        assert flowsync(["run", "--source", "twilio_studio"], env, tmp_path).returncode == 0
        got = read(tmp_path / "w.duckdb", "select flow_id, widget, widget_type, widget_depth "
                                          "from analytics.step_funnel order by all")
        assert got
        if version == "v1":
            assert {(t, d) for _, _, t, d in got} == {(None, None)}
            return
        expected = []
        for flow in sim.world.twilio_flows:
            definition = flow.definition()
            types = {s["name"]: s["type"] for s in definition["states"]}
            depths = _bfs(definition)
            expected += [(flow.sid, w, types.get(w), depths.get(w))
                         for f, w, _, _ in got if f == flow.sid]
        assert got == sorted(expected)
        assert max(d for *_, d in got) >= 2 and len({d for *_, d in got}) >= 3
        # a second run fetches no flow again: the revisions are unchanged
        sim.reset_stats()
        assert flowsync(["run", "--source", "twilio_studio"], env, tmp_path).returncode == 0
        assert sim.stats()["requests"].get("twilio.flows.fetch", 0) == 0
