"""The incremental rebuild (`transforms.incremental`) against a full one, after each kind of
change a year of 15-minute runs brings: every analytics and internal table, row for row.

Each step runs `flowsync run` (which rebuilds only what changed), then rebuilds a copy of
the warehouse in full (`flowsync transform --full` on a copied DuckDB file, or a Postgres
database cloned from it) and compares every table. The chain of incremental runs goes on
from the original, so an error that builds up over several runs shows too.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from simulator import Simulator
from tests.running import (
    database_dsn,
    env_for,
    flowsync,
    killpoint,
    untimed,
    warehouse,
)
from tests.worlds import POSTGRES_DSN, small_config
from transforms.runner import load_models, schema_of

TABLES = [f"{schema_of(m)}.{m.name}" for m in load_models()]
BUILT = [f"{schema_of(m)}.{m.name}" for m in load_models() if not m.view]  # not views
INCREMENTAL = "(what changed)"


def contents(read: Callable[[str], list[tuple]]) -> dict[str, list[tuple]]:
    """Every model's table, rows sorted, floats rounded (sums may add in another order)."""
    def cell(v: Any) -> Any:
        return round(v, 9) if isinstance(v, float) else v

    return {t: sorted((tuple(cell(v) for v in r) for r in read(f"select * from {t}")), key=repr)
            for t in TABLES}


@contextmanager
def postgres_clone(name: str):
    admin = psycopg2.connect(POSTGRES_DSN)
    admin.autocommit = True
    clone = f"{name}_full"
    admin.cursor().execute(f"create database {clone} template {name}")
    try:
        yield database_dsn(clone)
    finally:
        admin.cursor().execute(f"drop database if exists {clone} with (force)")
        admin.close()


class Chain:
    """A warehouse run again and again, each time compared with a full rebuild of a copy."""

    def __init__(self, kind: str, sim: Simulator, tmp: Path, dest: dict[str, str],
                 read: Callable[[str], list[tuple]]) -> None:
        self.kind, self.sim, self.tmp, self.dest, self.read = kind, sim, tmp, dest, read
        self.extra: dict[str, str | None] = {}  # None: unset
        self.copies = 0

    def env(self, work: Path | None = None, **dest: str) -> dict[str, str]:
        env = env_for(self.sim, work or self.tmp, **(dest or self.dest))
        env.update(self.extra)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, expect: str = INCREMENTAL, args: tuple[str, ...] = ("run",)) -> str:
        result = flowsync([*args, "--destination", self.kind], self.env(), self.tmp)
        assert result.returncode == 0, result.stdout + result.stderr
        last = untimed(result.stdout).splitlines()[-1]
        assert last.startswith("analytics: rebuilt in ") and expect in last, last
        return result.stdout

    def equals_full(self) -> dict[str, list[tuple]]:
        """This warehouse's tables equal those of a full rebuild of a copy of it."""
        self.copies += 1
        work = self.tmp / f"full{self.copies}"
        work.mkdir()
        with self._copy(work) as dest:
            env = self.env(work, **dest)
            result = flowsync(["transform", "--full", "--destination", self.kind], env, work)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "(in full: asked for)" in result.stdout
            full = contents(self._reader(dest))
        mine = contents(self.read)
        for table in TABLES:
            assert mine[table] == full[table], table
        assert sum(len(rows) for rows in mine.values()) > 0
        return mine

    @contextmanager
    def _copy(self, work: Path):
        if self.kind == "duckdb":
            source = Path(self.dest["DESTINATION__DUCKDB__CREDENTIALS"])
            shutil.copy(source, work / "w.duckdb")
            if source.with_suffix(".duckdb.wal").exists():
                shutil.copy(source.with_suffix(".duckdb.wal"), work / "w.duckdb.wal")
            yield {"DESTINATION__DUCKDB__CREDENTIALS": str(work / "w.duckdb")}
        else:
            name = self.dest["DESTINATION__POSTGRES__CREDENTIALS"].rsplit("/", 1)[1]
            with postgres_clone(name) as dsn:
                yield {"DESTINATION__POSTGRES__CREDENTIALS": dsn}

    def _reader(self, dest: dict[str, str]) -> Callable[[str], list[tuple]]:
        import duckdb

        from tests.expected import utc

        if self.kind == "duckdb":
            def read(sql: str) -> list[tuple]:
                with duckdb.connect(dest["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as c:
                    return [tuple(utc(v) for v in r) for r in c.execute(sql).fetchall()]
            return read

        def read_pg(sql: str) -> list[tuple]:
            conn = psycopg2.connect(dest["DESTINATION__POSTGRES__CREDENTIALS"])
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return [tuple(utc(v) for v in r) for r in cur.fetchall()]
            finally:
                conn.close()
        return read_pg


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_change_rebuilt_incrementally_equals_a_full_rebuild(tmp_path: Path, kind: str) -> None:
    with Simulator(small_config(twilio_executions=500, hilos_contact_runs=700),
                   accounts=["second"]) as sim, warehouse(kind, tmp_path) as (dest, read):
        chain = Chain(kind, sim, tmp_path, dest, read)
        chain.run("(in full: no earlier build)")
        before = chain.equals_full()

        # nothing new: nothing changes but the time of the last attempt
        chain.run()
        after = chain.equals_full()
        assert {t: r for t, r in after.items() if t != "analytics.sync_status"} == {
            t: r for t, r in before.items() if t != "analytics.sync_status"}

        # time passes: new runs, open runs finish (days already built change), late steps
        sim.advance(3 * 3600, new_twilio=40, new_hilos=60, finish_fraction=0.5)
        chain.run()
        chain.equals_full()

        # a Twilio flow renamed: every run of it carries the new name
        flow = sim.world.twilio_flows[0]
        flow.friendly_name, flow.revision = "Renamed in Studio", flow.revision + 1
        sim.advance(600, new_twilio=5, new_hilos=5, finish_fraction=0.2)
        chain.run()
        tables = chain.equals_full()
        renamed = [r for r in tables["analytics.flow_runs"] if r[3] == flow.sid]
        assert renamed and {r[4] for r in renamed} == {"Renamed in Studio"}

        # a run killed inside the rebuild (after its loads): the analytics are as before
        # the run, whole; the next rebuild catches up with what the killed one loaded
        shown = chain.equals_full()
        sim.advance(3600, new_twilio=30, new_hilos=30, finish_fraction=0.5)
        killed = killpoint("model", 5, ["run", "--destination", kind], chain.env(), tmp_path)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert {t: r for t, r in contents(read).items() if t in BUILT} == {
            t: r for t, r in shown.items() if t in BUILT}
        chain.run(args=("transform",))
        chain.equals_full()

        # an account added: its whole history arrives in one run
        second = sim.account_world("second").config
        default = sim.world.config
        chain.extra = {"SOURCES__HILOS__API_TOKEN": None, "SOURCES__HILOS__ACCOUNTS": json.dumps({
            "default": {"api_token": default.hilos_api_token, "base_url": sim.base_url},
            "second": {"api_token": second.hilos_api_token, "base_url": sim.base_url}})}
        chain.run()
        tables = chain.equals_full()
        assert {r[1] for r in tables["analytics.flow_runs"] if r[0] == "hilos"} == {
            "default", "second"}

        # the time zone changed: every day is cut anew, in full; then incremental again
        chain.extra["ANALYTICS__TIMEZONE"] = "Asia/Kolkata"
        chain.run("(in full: the models or their settings changed)")
        sim.advance(3600, new_twilio=20, new_hilos=20, finish_fraction=0.5)
        chain.run()
        chain.equals_full()

        # privacy turned on: stored addresses are hashed in place, so the next rebuild is
        # full; then incremental again
        chain.extra.update(PRIVACY__CONTACT_ADDRESS="hash", PRIVACY__HASH_KEY="k" * 32)
        chain.run("(in full: stored contact data was rewritten for privacy)")
        sim.advance(3600, new_twilio=20, new_hilos=20, finish_fraction=0.5)
        chain.run()
        chain.equals_full()


def test_a_stop_inside_the_rebuild_of_what_changed_leaves_every_table_as_it_was(
        tmp_path: Path) -> None:
    with Simulator(small_config()) as sim, warehouse("duckdb", tmp_path) as (dest, read):
        chain = Chain("duckdb", sim, tmp_path, dest, read)
        chain.run("(in full: no earlier build)")
        before = {t: r for t, r in contents(read).items() if t in BUILT}
        sim.advance(3600, new_twilio=20, new_hilos=20, finish_fraction=0.5)
        stopped = killpoint("model", 2, ["run"], chain.env(), tmp_path, "TERM")
        assert stopped.returncode == 143, stopped.stderr
        assert re.search(r"flowsync: transform: stopped before analytics(_internal)?\.\w+; "
                         r"every analytics table is as it was", stopped.stderr), stopped.stderr
        assert {t: r for t, r in contents(read).items() if t in BUILT} == before
        chain.run(args=("transform",))
        chain.equals_full()
