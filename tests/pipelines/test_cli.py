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
