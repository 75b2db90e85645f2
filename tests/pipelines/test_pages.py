"""No page is read twice and no row stored twice, whatever the links say.

Issue 22: a first Twilio Steps page whose next link named itself in another spelling
(`...Steps?PageSize=1000&Page=0`, as Twilio's `meta.url` has it) was followed once and its
steps stored twice, exit 0, never repaired (128 duplicates in a chaos run with 2% such
pages). Here such pages come on both lists of Twilio, through `flowsync run`: the run
reads each page once, stores no key twice, says which listings stopped (exit 1), and the
next run completes them exactly.
"""

from __future__ import annotations

from pathlib import Path

from simulator import Simulator
from tests.expected import TWILIO_EXECUTIONS, TWILIO_STEPS, execution_truth, step_truth, visible_floor
from tests.running import env_for, flowsync, read
from tests.worlds import small_config


def test_self_linking_pages_are_read_once_and_the_next_run_completes(tmp_path: Path) -> None:
    with Simulator(small_config(twilio_executions=400)) as sim:
        since = visible_floor(sim)
        env = env_for(sim, tmp_path)
        sim.faults.configure(queue=[{"kind": "self_link", "path_contains": "/Steps"}] * 5
                             + [{"kind": "self_link", "path_contains": "/Executions"}])
        first = flowsync(["run", "--source", "twilio_studio"], env, tmp_path)
        assert first.returncode == 1, first.stderr
        assert sim.faults.describe()["injected"] == {"self_link": 6}
        assert "the next-page link repeats a page already read" in first.stderr
        db = tmp_path / "w.duckdb"
        for table, key in (("executions", "sid"), ("execution_steps", "sid")):
            assert read(db, f"select count(*) - count(distinct {key}) "
                            f"from twilio_studio.{table}") == [(0,)], table
        # what was read is loaded, once; what stopped is read again next run
        assert set(read(db, TWILIO_STEPS)) < set(step_truth(sim, since))
        again = flowsync(["run", "--source", "twilio_studio"], env, tmp_path)
        assert again.returncode == 0, again.stderr
        assert read(db, TWILIO_EXECUTIONS) == execution_truth(sim, since)
        assert read(db, TWILIO_STEPS) == step_truth(sim, since)
