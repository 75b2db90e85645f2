"""The README's scheduling recipes, run as written (issue 26): cron's line, the systemd
service's command and timer, Airflow's BashOperator command. `/srv/flowsync` becomes a
temporary folder holding `.venv/bin/flowsync`; the simulator's credentials come from the
environment, as a deployment's would from `.dlt/secrets.toml`."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import Simulator
from tests.running import env_for, read, warehouse
from tests.worlds import small_config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def recipe(name: str) -> str:
    found = re.search(rf"<!-- recipe: {name} -->\n```\w*\n(.*?)```", README, re.DOTALL)
    assert found, f"README has no recipe {name}"
    return found.group(1)


def deployment(tmp: Path) -> Path:
    """/srv/flowsync: a folder with the installed flowsync at .venv/bin/flowsync."""
    srv = tmp / "srv" / "flowsync"
    (srv / ".venv" / "bin").mkdir(parents=True)
    installed = shutil.which("flowsync", path=str(Path(sys.executable).parent))
    assert installed
    (srv / ".venv" / "bin" / "flowsync").symlink_to(installed)
    return srv


def runs(sim: Simulator) -> int:
    """The runs a first load finds: every Hilos run, the Twilio executions still listed."""
    return len(sim.world.hilos_runs) + sum(len(sim.world.twilio_retained(f))
                                           for f in sim.world.live_twilio_flows())


def placed(text: str, srv: Path, tmp: Path) -> str:
    return text.replace("/srv/flowsync", str(srv)).replace("/var/log/", f"{tmp}/")


def test_the_cron_line_loads_and_logs_dated_lines(tmp_path: Path) -> None:
    srv = deployment(tmp_path)
    line = recipe("cron").strip()
    schedule, command = line.split(maxsplit=5)[:5], line.split(maxsplit=5)[5]
    assert schedule == ["*/15", "*", "*", "*", "*"]
    with Simulator(small_config(twilio_executions=100, hilos_contact_runs=100)) as sim:
        env = env_for(sim, tmp_path)
        env.pop("DESTINATION__DUCKDB__CREDENTIALS")  # cron's run writes ./flowsync.duckdb
        for _ in range(2):
            done = subprocess.run(["/bin/sh", "-c", placed(command, srv, tmp_path)], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (tmp_path / "flowsync.log").read_text()
        expected = runs(sim)
    log = (tmp_path / "flowsync.log").read_text()
    assert len(re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ hilos: ok in ", log, re.M)) == 2
    assert read(srv / "flowsync.duckdb", "select count(*) from analytics.flow_runs") == [
        (expected,)]


def test_the_systemd_service_runs_and_its_timer_fires_every_15_minutes(tmp_path: Path) -> None:
    srv = deployment(tmp_path)
    service, timer = configparser.ConfigParser(), configparser.ConfigParser()
    service.optionxform = timer.optionxform = str  # systemd's keys are case-sensitive
    service.read_string(placed(recipe("systemd-service"), srv, tmp_path))
    timer.read_string(recipe("systemd-timer"))
    assert service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["OnCalendar"] == "*:0/15" and timer["Install"]["WantedBy"] == "timers.target"
    analyze = shutil.which("systemd-analyze")
    if analyze:  # systemd's own reading of the calendar, where systemd is installed
        spec = subprocess.run([analyze, "calendar", "*:0/15"], capture_output=True, text=True)
        assert "Normalized form: *-*-* *:00/15:00" in spec.stdout, spec.stdout
    with Simulator(small_config(twilio_executions=100, hilos_contact_runs=100)) as sim:
        env = env_for(sim, tmp_path)
        env.pop("DESTINATION__DUCKDB__CREDENTIALS")
        done = subprocess.run(service["Service"]["ExecStart"].split(), env=env,
                              cwd=service["Service"]["WorkingDirectory"], capture_output=True,
                              text=True, timeout=300)
        expected = runs(sim)
    assert done.returncode == 0, done.stderr
    import json

    events = [json.loads(line) for line in done.stdout.splitlines()]  # journald's lines
    assert [e["source"] for e in events] == [None, "hilos", "twilio_studio", None]
    assert read(srv / "flowsync.duckdb", "select count(*) from analytics.flow_runs") == [
        (expected,)]


@pytest.mark.postgres
def test_the_airflow_task_s_command_loads_into_postgres(tmp_path: Path) -> None:
    srv = deployment(tmp_path)
    call = next(node for node in ast.walk(ast.parse(recipe("airflow")))
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator")
    task = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert task["task_id"] == "flowsync_run"
    with Simulator(small_config(twilio_executions=100, hilos_contact_runs=100)) as sim, \
            warehouse("postgres", tmp_path) as (dest, read_pg):
        env = env_for(sim, tmp_path, **dest)
        # as Airflow's BashOperator runs it: bash -c, in cwd, the task failing on non-zero
        done = subprocess.run(["bash", "-c", task["bash_command"]], env=env,
                              cwd=placed(task["cwd"], srv, tmp_path), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert read_pg("select count(*) from analytics.flow_runs") == [(runs(sim),)]
