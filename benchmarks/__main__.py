"""flowsync against the fetch-and-parse floor and dlt's generic rest_api source.

    python -m benchmarks --hilos-runs 100000 200000

For each scale: the simulator starts in its own process; each contender loads the same
data in its own process (wall time, rows/s, API requests, peak RSS). Prints a table and
writes benchmarks/results/<time>.json.

Measured so far: Hilos full loads. Twilio, 1M-row scales by default, incremental runs
against the minimum and latency are still to come (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

CONTENDERS = ("floor", "flowsync", "peer")
RESULTS = Path(__file__).resolve().parent / "results"


def start_simulator(hilos_runs: int) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "simulate", "--port", "0", "--seed", "1",
         "--twilio-flows", "0", "--twilio-executions", "0", "--hilos-flows", "8",
         "--hilos-contact-runs", str(hilos_runs), "--history-days", "14"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    while not any(line.startswith("Ctrl-C") for line in lines):
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the simulator did not start")
        lines.append(line)
    text = "".join(lines)
    base = re.search(r"on (http://127\.0\.0\.1:\d+)", text).group(1)
    token = re.search(r"SOURCES__HILOS__API_TOKEN=(\S+)", text).group(1)
    return proc, base, token


def measure(contender: str, base: str, token: str, workdir: Path) -> dict:
    httpx.post(f"{base}/_sim/stats/reset").raise_for_status()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.contenders", contender, "hilos",
                             base, token, str(workdir / contender)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise SystemExit(f"{contender} failed:\n{err[-2000:]}")
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    requests = httpx.get(f"{base}/_sim/stats").json()["total"]
    return {"contender": contender, "wall_s": round(wall, 2), "rows": rows,
            "rows_per_s": round(rows / wall), "requests": requests,
            "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hilos-runs", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    results = []
    for runs in args.hilos_runs:
        sim, base, token = start_simulator(runs)
        try:
            with tempfile.TemporaryDirectory(prefix="flowsync-bench-") as tmp:
                for contender in CONTENDERS:
                    r = {"provider": "hilos", "contact_runs": runs,
                         **measure(contender, base, token, Path(tmp))}
                    results.append(r)
                    print(f"hilos {runs:>9,} {r['contender']:<9} {r['wall_s']:>8.2f} s "
                          f"{r['rows_per_s']:>9,} rows/s {r['requests']:>6} requests "
                          f"{r['peak_rss_mib']:>6} MiB peak", flush=True)
        finally:
            sim.terminate()
            sim.wait()
    print("\n| provider | runs | contender | wall | rows/s | requests | peak RSS | x floor |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        floor = next(f for f in results if f["contact_runs"] == r["contact_runs"]
                     and f["contender"] == "floor")
        print(f"| {r['provider']} | {r['contact_runs']:,} | {r['contender']} | {r['wall_s']} s "
              f"| {r['rows_per_s']:,} | {r['requests']} | {r['peak_rss_mib']} MiB "
              f"| {r['wall_s'] / floor['wall_s']:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"machine": os.uname().machine, "cpus": os.cpu_count(),
                                "results": results}, indent=2))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
