"""The `flowsync` console script as a user runs it: a real subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

FLOWSYNC = str(Path(sys.executable).with_name("flowsync"))


def test_simulate_serves_both_apis_until_interrupted() -> None:
    proc = subprocess.Popen(
        [FLOWSYNC, "simulate", "--port", "0", "--seed", "3", "--twilio-executions", "200",
         "--hilos-contact-runs", "300", "--start", "2026-11-01T00:00:00+00:00"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.match(r"flowsync simulator on (http://127\.0\.0\.1:\d+) \(seed 3, clock "
                     r"2026-11-01T00:00:00Z\)", first)
        assert m, first
        base = m.group(1)
        lines = [proc.stdout.readline() for _ in range(8)]
        env = dict(re.findall(r"export (\w+)=(\S+)", "".join(lines)))
        assert env["SOURCES__HILOS__BASE_URL"] == base
        hilos = httpx.get(f"{base}/channel/whatsapp/flow-execution-contact",
                          headers={"Authorization": f"Token {env['SOURCES__HILOS__API_TOKEN']}"})
        assert hilos.json()["count"] == 300
        twilio = httpx.get(f"{base}/v2/Flows", auth=(env["SOURCES__TWILIO_STUDIO__ACCOUNT_SID"],
                                                     env["SOURCES__TWILIO_STUDIO__AUTH_TOKEN"]))
        assert len(twilio.json()["flows"]) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_simulate_rejects_a_bad_fault_spec() -> None:
    result = subprocess.run([FLOWSYNC, "simulate", "--fault", "teapot=0.1"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "expected KIND=RATE" in result.stderr


def test_simulate_reports_a_port_in_use() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run([FLOWSYNC, "simulate", "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_help_lists_the_contract_commands() -> None:
    out = subprocess.run([FLOWSYNC, "--help"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "COLUMNS": "120"}).stdout
    for command in ("run", "transform", "demo", "simulate"):
        assert command in out


def test_version_options_after_the_command_and_duckdb_everywhere(tmp_path) -> None:
    """Issue 26: no --version; `flowsync run -v` was refused; only demo took --duckdb."""
    from pipelines import __version__

    def flowsync_(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([FLOWSYNC, *args], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={k: v for k, v in os.environ.items()
                                                 if not k.startswith(("SOURCES__", "DESTINATION__"))})

    version = flowsync_("--version")
    assert (version.returncode, version.stdout) == (0, f"flowsync {__version__}\n")
    # a transform on a file of its own (nothing loaded yet: empty analytics), -v after it
    db = tmp_path / "chosen.duckdb"
    result = flowsync_("transform", "-v", "--duckdb", str(db))
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr and db.exists()
    assert not (tmp_path / "flowsync.duckdb").exists()
    report = flowsync_("report", "--duckdb", str(db), "--output", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").exists()
    # every option of every command says what it does
    from pipelines.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command in ("run", "transform", "report", "demo"):
        actions = commands[command]._actions
        assert "--duckdb" in {o for a in actions for o in a.option_strings}, command
        assert [a.dest for a in actions if not a.help] == [], command


def test_summary_lines_are_dated_and_json_is_one_object_per_event(tmp_path: Path) -> None:
    """Issue 26: a week of cron output was a column of undated lines; log shippers want
    objects."""
    import json
    import re

    from simulator import Simulator
    from tests.running import env_for, flowsync
    from tests.worlds import small_config

    with Simulator(small_config(twilio_executions=100, hilos_contact_runs=100)) as sim:
        env = env_for(sim, tmp_path)
        text = flowsync(["run", "--source", "hilos"], env, tmp_path)
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert len(lines) == 3 and all(
            re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (flowsync: loading|hilos: ok in|"
                     r"analytics: rebuilt in) ", line) for line in lines), lines
        done = flowsync(["run", "--source", "hilos", "--log-format", "json"], env, tmp_path)
        assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o["level"], o["source"], o["account"]) for o in objects] == [
        ("info", None, None), ("info", "hilos", "default"), ("info", None, None)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["time"]) for o in objects)
    hilos = objects[1]
    assert hilos["message"].startswith("hilos: ok in ")
    assert hilos["figures"]["outcome"] == "ok" and hilos["figures"]["requests"] >= 2
    assert set(hilos["figures"]["rows"]) >= {"flow_execution_contacts", "flow_executions"}
    assert objects[2]["figures"]["rows"]["flow_runs"] == 100
    for line in done.stderr.splitlines():  # log records, if any, as objects too
        assert json.loads(line)["level"] in ("warning", "info", "error"), line
