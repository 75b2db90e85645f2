"""What the benchmark scripts share: the simulator in a process of its own, a timed sync,
one contender's load measured in a process of its own."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import dlt
import httpx

from simulator import Simulator


def timed_sync(pipeline: dlt.Pipeline, source: Any, sim: Simulator, label: str,
               loader_file_format: str = "parquet") -> tuple[int, float]:
    """Runs one sync; prints and returns its API requests and wall time."""
    sim.reset_stats()
    t0 = time.perf_counter()
    info = pipeline.run(source, loader_file_format=loader_file_format)
    wall = time.perf_counter() - t0
    info.raise_on_failed_jobs()
    stats = sim.stats()["requests"]
    detail = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in sorted(stats.items()))
    print(f"{label:<34} {sum(stats.values()):>6} requests  {wall:>7.2f} s   ({detail})", flush=True)
    return sum(stats.values()), wall


def serve_simulator(config: dict, ready: Connection) -> None:
    """The simulator's process: builds the world, hands back its URL, serves until killed."""
    from simulator import SimConfig

    sim = Simulator(SimConfig(**config), port=0)
    ready.send(sim.base_url)
    ready.close()
    sim.serve_forever()


class Sim:
    """The simulator in its own process, driven through its admin API."""

    def __init__(self, provider: str, runs: int, flows: int, history_days: int) -> None:
        counts = (dict(twilio_flows=0, twilio_executions=0, hilos_flows=flows,
                       hilos_contact_runs=runs) if provider == "hilos" else
                  dict(hilos_flows=0, hilos_contact_runs=0, twilio_flows=flows,
                       twilio_executions=runs))
        config = dict(seed=1, history_days=history_days, **counts)
        receive, send = multiprocessing.Pipe(duplex=False)
        self.proc = multiprocessing.get_context("spawn").Process(
            target=serve_simulator, args=(config, send), daemon=True)
        self.proc.start()
        send.close()
        try:
            self.base = receive.recv()
        except EOFError:
            raise SystemExit("the simulator did not start") from None
        self.admin = httpx.Client(base_url=self.base, timeout=600)

    def get(self, path: str, **params: str) -> dict:
        resp = self.admin.get(f"/_sim/{path}", params=params)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, body: dict | None = None) -> dict:
        resp = self.admin.post(f"/_sim/{path}", json=body or {})
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.admin.close()
        self.proc.terminate()
        self.proc.join()


def _spawn_and_wait(args: list[str]) -> tuple[int, str, str, float, int, float]:
    """Runs a child to its end: (returncode, stdout, stderr, wall seconds, peak RSS MiB,
    CPU seconds, user and system)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read(), err.read(), wall, round(usage.ru_maxrss / 1024),
                usage.ru_utime + usage.ru_stime)


def run_contender(sim: Sim, contender: str, provider: str, workdir: Path,
                  workers: int) -> dict:
    sim.post("stats/reset")
    settings = json.dumps({**sim.get("info"), "workers": workers})
    code, out, err, wall, peak, cpu = _spawn_and_wait(
        [sys.executable, "-m", "benchmarks.contenders", contender, provider, settings,
         str(workdir)])
    if code != 0:
        raise SystemExit(f"{contender} ({provider}) failed:\n{err[-3000:]}")
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    return {"contender": contender, "wall_s": round(wall, 2), "rows": rows,
            "rows_per_s": round(rows / wall), "requests": sim.get("stats")["total"],
            "peak_rss_mib": peak, "cpu_s": round(cpu, 2)}
