"""Dagster (issue 26): `pipelines.dagster_defs` loads every source and account and rebuilds
the analytics through flowsync's own path, equal to `flowsync run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from simulator import Simulator
from tests.expected import analytics_tables, assert_raw_tables_are_the_truth, visible_floor
from tests.running import env_for, flowsync, read
from tests.worlds import small_config

SMALL = dict(twilio_executions=200, hilos_contact_runs=240)


def materialize(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The README's command, as a team runs it."""
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent))
    assert dagster, "the dagster extra is installed with the test extra"
    return subprocess.run([dagster, "asset", "materialize", "-m", "pipelines.dagster_defs",
                           "--select", "*"], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_dagster_asset_materialize_loads_what_flowsync_run_does_twice_with_a_change(
        tmp_path: Path) -> None:
    (tmp_path / "dagster" / "home").mkdir(parents=True)
    (tmp_path / "cli").mkdir()
    with Simulator(small_config(**SMALL)) as sim, Simulator(small_config(**SMALL)) as twin:
        since = visible_floor(sim)
        env = env_for(sim, tmp_path / "dagster",
                      DAGSTER_HOME=str(tmp_path / "dagster" / "home"),
                      PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        cli_env = env_for(twin, tmp_path / "cli")
        for step in range(2):
            if step:
                for world in (sim, twin):
                    world.advance(86_400, new_twilio=30, new_hilos=40, finish_fraction=0.5)
            done = materialize(env, tmp_path / "dagster")
            assert done.returncode == 0, done.stderr[-3000:]
            for step_key in ("flowsync__hilos__default", "flowsync__twilio_studio__default",
                             "flowsync__analytics"):  # asset flowsync/<source>/<account>
                assert f"{step_key} - ASSET_MATERIALIZATION" in done.stderr, step_key
            assert flowsync(["run"], cli_env, tmp_path / "cli").returncode == 0
            db, twin_db = tmp_path / "dagster" / "w.duckdb", tmp_path / "cli" / "w.duckdb"
            assert_raw_tables_are_the_truth(lambda sql, d=db: read(d, sql), sim, since)
            assert analytics_tables(lambda sql, d=db: read(d, sql)) == analytics_tables(
                lambda sql, d=twin_db: read(d, sql))
            assert read(db, "select source, account, last_outcome from analytics.sync_status "
                            "order by 1") == [("hilos", "default", "ok"),
                                              ("twilio_studio", "default", "ok")]


def test_an_account_that_fails_fails_its_asset_with_flowsync_s_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.dagster_defs import build_defs

    with Simulator(small_config(**SMALL)) as sim:
        for key in [k for k in os.environ if k.startswith(("SOURCES__", "DESTINATION__"))]:
            monkeypatch.delenv(key)
        for key, value in env_for(sim, tmp_path).items():
            if key.startswith(("SOURCES__", "DESTINATION__")):
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("SOURCES__HILOS__API_TOKEN", "revoked")
        monkeypatch.setenv("FLOWSYNC__STATE_DIR", str(tmp_path / "state"))
        defs = build_defs()
        assets = list(defs.assets or [])
        assert sorted(a.key.to_user_string() for a in assets) == [
            "flowsync/analytics", "flowsync/hilos/default", "flowsync/twilio_studio/default"]
        result = dg.materialize(assets, raise_on_error=False)
        assert not result.success
        failed = {e.step_key: e for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
        assert set(failed) == {"flowsync__hilos__default"}, failed
        text = str(failed["flowsync__hilos__default"].event_specific_data.error)
        assert "flowsync exit 2 (CONFIG): hilos: " in text and "401" in text, text
        # the other account's asset loaded; Dagster skips the analytics asset after a
        # failure, so the failed load rebuilt them itself: sync_status names the failure
        done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        assert done == {"flowsync/twilio_studio/default"}
        db = tmp_path / "w.duckdb"
        assert read(db, "select count(*) from twilio_studio.executions")[0][0] > 0
        assert read(db, "select source, last_outcome from analytics.sync_status "
                        "where source = 'hilos'") == [("hilos", "failed")]
