"""Killed anywhere, the next run completes the data exactly once: a sweep of SIGKILLs.

Each case kills `flowsync run` at an exact point (`tests/killpoint.py`) in a first load or
in an incremental run, on DuckDB and on Postgres, then runs again and checks every raw
table against the simulator's records (exact rows, so no key twice) and every analytics
table against an uninterrupted run's.
"""

from __future__ import annotations

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
from tests.running import Reader, env_for, flowsync, killpoint, warehouse
from tests.worlds import small_config

ANALYTICS = ("flow_runs", "completion_rate", "status_funnel", "status_counts", "step_funnel")
# listing, steps, normalize, inside the load (files staged, merges), transform
POINTS = [("request", 1), ("request", 40), ("normalized", 1), ("staged", 1), ("staged", 2),
          ("staged", 3), ("sql", 1), ("sql", 3), ("normalized", 2), ("model", 3)]



def world() -> Simulator:
    return Simulator(small_config(twilio_executions=240, hilos_contact_runs=300))


def analytics(read: Reader) -> dict[str, list[tuple]]:
    return {t: sorted(read(f"select * from analytics.{t}"), key=repr) for t in ANALYTICS}


def run_args(kind: str) -> list[str]:
    return ["run", "--destination", kind]


def prepare(sim: Simulator, incremental: bool, env: dict[str, str], kind: str, tmp: Path) -> None:
    if incremental:
        assert flowsync(run_args(kind), env, tmp).returncode == 0
        sim.advance(86_400, new_twilio=60, new_hilos=80, finish_fraction=0.5)


_reference: dict[tuple[str, bool], dict[str, list[tuple]]] = {}


def reference(kind: str, incremental: bool, tmp: Path) -> dict[str, list[tuple]]:
    """The analytics of an uninterrupted run over the same history (the simulator is
    deterministic from its seed)."""
    key = (kind, incremental)
    if key not in _reference:
        tmp.mkdir()
        with world() as sim, warehouse(kind, tmp) as (dest, read):
            env = env_for(sim, tmp, **dest)
            prepare(sim, incremental, env, kind, tmp)
            assert flowsync(run_args(kind), env, tmp).returncode == 0
            _reference[key] = analytics(read)
    return _reference[key]


@pytest.mark.parametrize("point,nth", POINTS, ids=[f"{p}-{n}" for p, n in POINTS])
@pytest.mark.parametrize("incremental", [False, True], ids=["first", "incremental"])
@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_killed_at_any_point_the_next_run_ends_exactly_once(
        tmp_path: Path, request: pytest.FixtureRequest, kind: str, incremental: bool,
        point: str, nth: int) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    expected = reference(kind, incremental, tmp_path / "reference")
    work = tmp_path / "work"
    work.mkdir()
    with world() as sim, warehouse(kind, work) as (dest, read):
        env = env_for(sim, work, **dest)
        since = visible_floor(sim)  # the first load's: older executions stay loaded
        prepare(sim, incremental, env, kind, work)
        killed = killpoint(point, nth, run_args(kind), env, work)
        assert killed.returncode == -9, f"the kill point was never reached: {killed.stderr}"
        again = flowsync(run_args(kind), env, work)
        assert again.returncode == 0, again.stderr
        assert read(HILOS_CONTACTS) == contact_truth(sim)
        assert read(HILOS_EXECUTIONS) == hilos_execution_truth(sim)
        assert read(TWILIO_EXECUTIONS) == execution_truth(sim, since)
        assert read(TWILIO_STEPS) == step_truth(sim, since)
        assert analytics(read) == expected
