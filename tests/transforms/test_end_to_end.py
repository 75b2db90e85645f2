"""Simulator -> `flowsync run` -> analytics, checked against the simulator's own records.

The expected figures come from the simulator's world directly (each run's generated
outcome and duration), not from the raw tables the SQL reads.
"""

from __future__ import annotations

from pathlib import Path

from simulator import Simulator
from simulator.world import TWILIO_RETENTION_SECONDS
from tests.expected import expected_completion_rate
from tests.running import env_for, flowsync, read
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
