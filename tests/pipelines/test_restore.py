"""A warehouse restored from an older backup is brought back to the APIs' truth.

Issue 22: the DuckDB file or Postgres database restored from a backup taken two runs
earlier, the working folder kept: the next runs exited 0 and never fetched what the backup
lacked (steps missing, executions stuck `active`, Hilos runs stuck `RUNNING`), since the
working folder's cursors were ahead of the warehouse. Now the run sees that the warehouse
lacks the loads the folder recorded, takes the warehouse's own state, says so, and
fetches what is missing: every raw table equals the simulator's records and every
analytics table equals that of a warehouse that was never restored.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

from simulator import Simulator
from tests.expected import analytics_tables as analytics
from tests.expected import assert_raw_tables_are_the_truth, visible_floor
from tests.running import env_for, flowsync, warehouse
from tests.worlds import POSTGRES_DSN, small_config


def world() -> Simulator:
    return Simulator(small_config(twilio_executions=300, hilos_contact_runs=400))



def days(sim: Simulator, run: Callable[[], None], n: int) -> None:
    for _ in range(n):
        sim.advance(6 * 3600, new_twilio=30, new_hilos=50, finish_fraction=0.6)
        run()


def backup_and_restore(kind: str, dest: dict[str, str], tmp: Path):
    """(take a backup, restore it): a copy of the DuckDB file, or of the database."""
    if kind == "duckdb":
        db = Path(dest["DESTINATION__DUCKDB__CREDENTIALS"])
        return (lambda: shutil.copy(db, tmp / "backup.duckdb"),
                lambda: shutil.copy(tmp / "backup.duckdb", db))
    name = dest["DESTINATION__POSTGRES__CREDENTIALS"].rsplit("/", 1)[1]

    def admin(*statements: str) -> None:
        conn = psycopg2.connect(POSTGRES_DSN)
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.close()

    return (lambda: admin(f"create database {name}_bk template {name}"),
            lambda: admin(f"drop database {name} with (force)",
                          f"create database {name} template {name}_bk",
                          f"drop database {name}_bk"))


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_backup_two_runs_old_is_brought_back_to_the_truth(
        tmp_path: Path, request: pytest.FixtureRequest, kind: str) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    args = ["run", "--destination", kind]
    # the same history, never restored
    (tmp_path / "kept").mkdir()
    with world() as sim, warehouse(kind, tmp_path / "kept") as (dest, read):
        env = env_for(sim, tmp_path / "kept", **dest)
        assert flowsync(args, env, tmp_path / "kept").returncode == 0
        days(sim, lambda: None, 3)
        assert flowsync(args, env, tmp_path / "kept").returncode == 0
        expected = analytics(read)
    work = tmp_path / "work"
    work.mkdir()
    with world() as sim, warehouse(kind, work) as (dest, read):
        env = env_for(sim, work, **dest)
        since = visible_floor(sim)

        def run() -> None:
            result = flowsync(args, env, work)
            assert result.returncode == 0, result.stderr
            assert "lacks loads" not in result.stderr

        run()
        backup, restore = backup_and_restore(kind, dest, work)
        backup()
        days(sim, run, 2)
        restore()
        days(sim, lambda: None, 1)
        result = flowsync(args, env, work)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if "lacks loads" in line]
        assert len(lines) == 2, result.stderr  # one line per source (in either order:
        # the sources' accounts run side by side)
        for source in ("hilos", "twilio_studio"):
            assert sum(line.endswith(
                f"flowsync_{source}: the warehouse lacks loads this working folder "
                "recorded (a backup restored? a replica behind?); the warehouse's own state "
                "is taken and what it lacks is fetched again") for line in lines) == 1, lines
        assert_raw_tables_are_the_truth(read, sim, since)
        assert analytics(read) == expected
        again = flowsync(args, env, work)
        assert again.returncode == 0 and "lacks loads" not in again.stderr, again.stderr
