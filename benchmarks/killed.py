"""A first load killed half-way: how much of its work the next run repeats.

flowsync commits a checkpoint every 60 s or 2,000 requests (its defaults), so a kill loses
at most the checkpoint in progress. On loopback a benchmark-sized load fits in one or two
checkpoints, where a real API's latency would make dozens, so here a checkpoint is a
twentieth of the load's requests (at least 20, the smallest flowsync accepts), and Hilos
pages hold 100 runs: the measure is of the mechanism, what a kill costs in checkpoints.
Measured: the uninterrupted first load's requests with these settings, then the same load
SIGKILLed when the simulator has counted half of them, then the run after it; repeated =
killed + next - uninterrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def _first_load(cmd: list[str], workdir: str, env: dict) -> None:
    subprocess.run([*cmd, workdir], check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def killed_half(sim: Any, provider: str, runs: int, full_requests: int, workers: int,
                out: dict) -> None:
    settings = json.dumps({**sim.get("info"), "workers": workers})
    every = max(20, full_requests // 20)
    env = {**os.environ, "CHECKPOINT__REQUESTS": str(every), "SOURCES__HILOS__PAGE_SIZE": "100"}
    cmd = [sys.executable, "-m", "benchmarks.contenders", "flowsync", provider, settings]
    with tempfile.TemporaryDirectory(prefix="flowsync-bench-kill-") as tmp:
        sim.post("stats/reset")
        _first_load(cmd, f"{tmp}/whole", env)
        uninterrupted = sim.get("stats")["total"]
        sim.post("stats/reset")
        proc = subprocess.Popen([*cmd, f"{tmp}/killed"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while sim.get("stats")["total"] < uninterrupted // 2 and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        killed = sim.get("stats")["total"]
        sim.post("stats/reset")
        t0 = time.perf_counter()
        _first_load(cmd, f"{tmp}/killed", env)
        wall = time.perf_counter() - t0
        after = sim.get("stats")["total"]
    repeated = max(0, killed + after - uninterrupted)
    r = {"provider": provider, "runs": runs, "checkpoint_requests": every,
         "uninterrupted_requests": uninterrupted,
         "killed_after": killed, "next_run_requests": after, "repeated": repeated,
         "repeated_share": round(repeated / killed, 3) if killed else 0.0,
         "next_run_wall_s": round(wall, 2)}
    out.setdefault("killed", []).append(r)
    print(f"{provider:<7} {runs:>9,} killed at {killed:,} of {uninterrupted:,} requests: the "
          f"next run made {after:,}, repeating {repeated:,} ({r['repeated_share']:.0%})",
          flush=True)


def report(rows: list[dict]) -> str:
    lines = ["| provider | runs | checkpoint every | uninterrupted requests | killed after "
             "| next run | repeated | share of the killed run's |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['provider']} | {r['runs']:,} | {r['checkpoint_requests']:,} requests | "
              f"{r['uninterrupted_requests']:,} | "
              f"{r['killed_after']:,} | {r['next_run_requests']:,} | {r['repeated']:,} | "
              f"{r['repeated_share']:.0%} |" for r in rows]
    return "\n".join(lines)
