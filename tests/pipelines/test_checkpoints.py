"""A run killed half-way through a first load keeps what its checkpoints committed: the
next run repeats little of its work, and the data ends exact."""

from __future__ import annotations

import re
import shutil
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
from tests.running import FLOWSYNC, env_for, flowsync, read, untimed
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


ROWS = re.compile(r"^(hilos|twilio_studio): ok in .*; rows fetched: (.*)$", re.MULTILINE)


@pytest.mark.parametrize("source", list(CASES))
def test_a_load_in_many_checkpoints_reads_and_counts_each_row_once(
        tmp_path: Path, source: str) -> None:
    """Issue 27: the summary's rows fetched are the rows loaded, each once, however many
    checkpoint loads read it; a Twilio flow read to its end is not read again by the
    run's later loads, nor are Hilos' flow executions."""
    world, settings = CASES[source]
    with Simulator(small_config(**world)) as sim:
        seen = {}
        for name, budget in (("one", "100000"), ("many", settings["CHECKPOINT__REQUESTS"])):
            (tmp_path / name).mkdir()
            env = env_for(sim, tmp_path / name, **{**settings, "CHECKPOINT__REQUESTS": budget})
            sim.reset_stats()
            result = flowsync(["run", "--source", source, "--no-transform"], env, tmp_path / name)
            assert result.returncode == 0, result.stderr
            assert ("checkpoint 2 committed" in result.stderr) == (name == "many")
            (line,) = ROWS.findall(untimed(result.stdout))
            fetched = dict(part.rsplit(" ", 1) for part in line[1].split(", "))
            dataset = tmp_path / name / "w.duckdb"
            assert {t: int(n.replace(",", "")) for t, n in fetched.items()} == {
                t: read(dataset, f"select count(*) from {source}.{t}")[0][0] for t in fetched}
            seen[name] = sim.stats()["requests"]
        # each Twilio flow's executions, and Hilos' flow executions, listed as often as in
        # one load: what a run read to its end, its later loads leave alone
        prefix = "twilio.executions" if source == "twilio_studio" else "hilos.flow_executions"
        listed = {op: n for op, n in seen["one"].items() if op.startswith(prefix)}
        assert listed and {op: seen["many"][op] for op in listed} == listed, seen


def test_a_flow_bigger_than_a_load_is_read_in_loads_of_about_the_budget(tmp_path: Path) -> None:
    """Issue 27: a Twilio flow's read pauses between pages when the load's row budget is
    spent, and the next load goes on below where it paused (`DateCreatedTo`): no load holds
    much more than the budget, however big the flow, and the data ends exact."""
    with Simulator(small_config(twilio_flows=1, twilio_executions=5000,
                                hilos_contact_runs=0)) as sim:
        since = visible_floor(sim)
        env = env_for(sim, tmp_path, CHECKPOINT__ROWS="1000")
        result = flowsync(["run", "--source", "twilio_studio", "--no-transform"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        db = tmp_path / "w.duckdb"
        truth = execution_truth(sim, since)
        assert read(db, TWILIO_EXECUTIONS) == truth
        assert read(db, TWILIO_STEPS) == step_truth(sim, since)
        per_load = [n for (n,) in read(db, "select count(*) from twilio_studio.executions "
                                           "group by _dlt_load_id")]
        # a page (1,000) a load: the budget reached, the read pauses after the page, its
        # oldest second left to the next load
        assert len(per_load) >= len(truth) // 1000 and max(per_load) <= 1000, per_load
        # one page asked a load: the pages of one read in one go, and one more per pause
        # at most (the rows of each page's oldest second come again)
        listed = sim.stats()["requests"]["twilio.executions.list"]
        assert listed == len(per_load) <= -(-len(truth) // 1000) + len(per_load) - 1


def test_the_warehouse_keeps_one_stored_state_a_lost_working_folder_restores(
        tmp_path: Path) -> None:
    """dlt appends the whole state (a Twilio account's still-active executions) with every
    load; flowsync keeps the newest, which is all dlt restores: a first load in many
    checkpoints leaves one row, and a run whose working folder is gone takes its cursors
    from it (fetching the steps of the runs that ended since, not of every run again)."""
    with Simulator(small_config(twilio_flows=1, twilio_executions=3000,
                                hilos_contact_runs=0)) as sim:
        since = visible_floor(sim)
        env = env_for(sim, tmp_path, CHECKPOINT__ROWS="1000")
        args = ["run", "--source", "twilio_studio", "--no-transform"]
        assert flowsync(args, env, tmp_path).returncode == 0
        db = tmp_path / "w.duckdb"
        state = "select _dlt_load_id, version from twilio_studio._dlt_pipeline_state"
        loads = [load for (load,) in read(db, "select load_id from twilio_studio._dlt_loads "
                                              "where status = 0 order by 1")]
        assert len(loads) >= 3, loads
        ((kept, version),) = read(db, state)
        assert kept == loads[-1] and version >= len(loads), (kept, version)

        sim.advance(3600, new_twilio=40, finish_fraction=0.5)
        shutil.rmtree(tmp_path / "w.duckdb.state" / "pipelines")
        sim.reset_stats()
        assert flowsync(args, env, tmp_path).returncode == 0
        assert read(db, TWILIO_EXECUTIONS) == execution_truth(sim, since)
        assert read(db, TWILIO_STEPS) == step_truth(sim, since)
        # the steps of the executions that ended since the state: a few hundred of 3,040
        steps = sim.stats()["requests"]["twilio.steps.list"]
        assert steps < 1000, steps
        assert len(read(db, state)) == 1
