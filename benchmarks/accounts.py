"""Many accounts against one: the same total of Twilio executions in N accounts of one
command, and in one account, side by side in one run (issue 25).

    python -m benchmarks.accounts [--accounts 50] [--executions 2000] [--latency-ms 100]

Each side is `flowsync run --source twilio_studio --no-transform` into a fresh DuckDB file,
as its own process (its wall time and peak RSS its own), against a simulator on loopback
answering every request after `--latency-ms`. Prints one line per side and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator import SimConfig, Simulator


def measure(sim: Simulator, names: list[str], workdir: Path, env_extra: dict) -> dict:
    accounts = {}
    for name in names:
        c = sim.account_world(name).config
        accounts[name] = {"account_sid": c.twilio_account_sid, "auth_token": c.twilio_auth_token,
                          "base_url": sim.base_url}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(env_extra, SOURCES__TWILIO_STUDIO__ACCOUNTS=json.dumps(accounts),
               DESTINATION__DUCKDB__CREDENTIALS=str(workdir / "w.duckdb"),
               FLOWSYNC__STATE_DIR=str(workdir / "state"), RUNTIME__LOG_LEVEL="WARNING")
    sim.reset_stats()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--source",
                             "twilio_studio", "--no-transform"], env=env, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run failed: {out}\n{err[-2000:]}")
    return {"accounts": len(names), "wall_s": round(wall, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024), "requests": sim.stats()["total"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--executions", type=int, default=2000, help="per account")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8, help="accounts.workers")
    args = parser.parse_args()
    n, per = args.accounts, args.executions
    base = dict(seed=1, twilio_flows=4, hilos_flows=1, hilos_contact_runs=10, history_days=25)
    extra = {"ACCOUNTS__WORKERS": str(args.workers)}
    with tempfile.TemporaryDirectory() as tmp:
        many_dir, one_dir = Path(tmp, "many"), Path(tmp, "one")
        many_dir.mkdir()
        one_dir.mkdir()
        with Simulator(SimConfig(twilio_executions=per, **base),
                       accounts=[f"a{i:02d}" for i in range(1, n)]) as sim:
            sim.faults.configure(latency_ms=args.latency_ms)
            many = measure(sim, list(sim.accounts), many_dir, extra)
        with Simulator(SimConfig(twilio_executions=per * n, **base)) as sim:
            sim.faults.configure(latency_ms=args.latency_ms)
            one = measure(sim, ["default"], one_dir, extra)
    print(f"{n} accounts x {per:,} executions: {many['wall_s']} s, peak RSS "
          f"{many['peak_rss_mib']} MiB, {many['requests']:,} requests")
    print(f"1 account x {per * n:,} executions: {one['wall_s']} s, peak RSS "
          f"{one['peak_rss_mib']} MiB, {one['requests']:,} requests")
    print(f"ratio (many / one): wall {many['wall_s'] / one['wall_s']:.2f}x, peak RSS "
          f"{many['peak_rss_mib'] / one['peak_rss_mib']:.2f}x")


if __name__ == "__main__":
    main()
