"""A run killed half-way through a first load keeps what its checkpoints committed: the
next run repeats little of its work, and the data ends exact."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from simulator import Simulator
from tests.expected import (
    HILOS_CONTACTS,
    HILOS_EXECUTIONS,
    TWILIO_EXECUTIONS,
    TWILIO_STEPS,
    contact_truth,
    execution_truth,
    hilos_execution_truth,
    step_truth,
    visible_floor,
)
from tests.running import FLOWSYNC, env_for, flowsync, read
from tests.worlds import small_config

CASES = {
    # source: (world, settings)
    "hilos": (dict(hilos_contact_runs=6000, twilio_executions=0),
              {"SOURCES__HILOS__PAGE_SIZE": "50", "CHECKPOINT__REQUESTS": "20"}),
    "twilio_studio": (dict(twilio_executions=1500, hilos_contact_runs=0),
                      {"CHECKPOINT__REQUESTS": "100"}),
}


@pytest.mark.parametrize("source", list(CASES))
def test_killed_half_way_through_a_first_load_the_next_run_repeats_little(
        tmp_path: Path, source: str) -> None:
    world, settings = CASES[source]
    with Simulator(small_config(**world)) as sim:
        since = visible_floor(sim)
        args = ["run", "--source", source, "--no-transform"]
        # what an uninterrupted first load costs
        (tmp_path / "whole").mkdir()
        sim.reset_stats()
        whole = flowsync(args, env_for(sim, tmp_path / "whole", **settings), tmp_path / "whole")
        assert whole.returncode == 0, whole.stderr
        total = sim.stats()["total"]
        # the same load, killed half-way
        env = env_for(sim, tmp_path, **settings)
        sim.reset_stats()
        proc = subprocess.Popen([FLOWSYNC, *args], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while sim.stats()["total"] < total // 2:
            assert proc.poll() is None, "the run ended before half-way"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = sim.stats()["total"]
        sim.reset_stats()
        again = flowsync(args, env, tmp_path)
        assert again.returncode == 0, again.stderr
        repeated = killed + sim.stats()["total"] - total
        print(f"{source}: {total} requests uninterrupted; killed after {killed}; the next run "
              f"repeated {repeated} ({repeated / killed:.0%} of the killed run's)")
        assert repeated <= killed / 2
        db = tmp_path / "w.duckdb"
        if source == "hilos":
            assert read(db, HILOS_CONTACTS) == contact_truth(sim)
            assert read(db, HILOS_EXECUTIONS) == hilos_execution_truth(sim)
        else:
            assert read(db, TWILIO_EXECUTIONS) == execution_truth(sim, since)
            assert read(db, TWILIO_STEPS) == step_truth(sim, since)
