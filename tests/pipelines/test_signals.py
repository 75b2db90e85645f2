"""SIGTERM and SIGINT stop the whole run within seconds; the next run completes the data."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import Simulator
from tests.expected import (
    HILOS_CONTACTS,
    TWILIO_EXECUTIONS,
    TWILIO_STEPS,
    contact_truth,
    execution_truth,
    step_truth,
    visible_floor,
)
from tests.running import FLOWSYNC, env_for, flowsync, killpoint, read
from tests.worlds import small_config


@pytest.fixture
def ssim() -> Iterator[Simulator]:
    with Simulator(small_config(twilio_executions=1200, hilos_contact_runs=1500)) as s:
        yield s


def assert_complete(db: Path, sim: Simulator, since: int) -> None:
    assert read(db, HILOS_CONTACTS) == contact_truth(sim)
    assert read(db, TWILIO_EXECUTIONS) == execution_truth(sim, since)
    assert read(db, TWILIO_STEPS) == step_truth(sim, since)


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_fetching_ends_the_run_within_seconds(
        ssim: Simulator, tmp_path: Path, sig: signal.Signals, code: int) -> None:
    since = visible_floor(ssim)
    env = env_for(ssim, tmp_path)
    # slow answers and a steps fetch that keeps failing: without a clean stop the run
    # would go on for minutes (retries back off for seconds each)
    ssim.faults.configure(latency_ms=20, rates={"503": 0.3}, retry_after=5)
    proc = subprocess.Popen([FLOWSYNC, "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while ssim.stats()["requests"].get("twilio.steps.list", 0) < 30:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.startswith("flowsync:")]
    assert lines == [f"flowsync: stopped by {sig.name}: hilos loaded; twilio_studio stopped; "
                     "what it fetched is fetched again next run; analytics not rebuilt"]
    assert "twilio_studio: STOPPED in " in out
    ssim.faults.configure(latency_ms=0, rates={})
    again = flowsync(["run"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert_complete(tmp_path / "w.duckdb", ssim, since)


def test_a_signal_inside_the_load_keeps_the_load_for_the_next_run(
        ssim: Simulator, tmp_path: Path) -> None:
    since = visible_floor(ssim)
    env = env_for(ssim, tmp_path)
    stopped = killpoint("staged", 1, ["run"], env, tmp_path, "TERM")
    assert stopped.returncode == 143, stopped.stderr
    assert ("flowsync: stopped by SIGTERM: hilos stopped; its load is kept and completes next "
            "run; twilio_studio not started; analytics not rebuilt") in stopped.stderr
    again = flowsync(["run"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "hilos: completing the load an interrupted run left pending" in again.stderr
    assert_complete(tmp_path / "w.duckdb", ssim, since)


def test_a_signal_inside_the_transform_keeps_the_tables_consistent(
        ssim: Simulator, tmp_path: Path) -> None:
    env = env_for(ssim, tmp_path)
    stopped = killpoint("model", 2, ["run"], env, tmp_path, "TERM")
    assert stopped.returncode == 143, stopped.stderr
    assert re.search(r"flowsync: transform: stopped before analytics(_internal)?\.\w+; the "
                     r"tables built before it are new, the others as they were", stopped.stderr)
    again = flowsync(["transform"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert read(tmp_path / "w.duckdb", "select count(*) from analytics.flow_runs") == [
        (len(contact_truth(ssim)) + len(execution_truth(ssim, visible_floor(ssim))),)]
