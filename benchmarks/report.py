"""What `flowsync report` costs on a big warehouse: its time and its file's size.

    python -m benchmarks.report --hilos-runs 1000000 --twilio-executions 20000

Loads both sources from the simulator into a fresh DuckDB file with `flowsync run` (the
analytics built), then writes the report a few times, each in its own process: wall time
of the command (Python's start included), the file's size, and beside it the floor of
reading the analytics tables it draws (`select *` of each, in the same process kind).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator import SimConfig, Simulator

FLOOR = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
for t in ("completion_rate", "status_funnel", "status_counts", "step_funnel", "sync_status"):
    con.execute(f"select * from analytics.{t}").fetchall()
"""


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hilos-runs", type=int, default=1_000_000)
    parser.add_argument("--hilos-flows", type=int, default=40)
    parser.add_argument("--twilio-executions", type=int, default=20_000)
    parser.add_argument("--twilio-flows", type=int, default=20)
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="COMMIT", default="58d9768",
                        help="an earlier release (from this repository's history) whose report "
                             "is written beside, on the same warehouse; '' for none")
    args = parser.parse_args()
    cfg = SimConfig(seed=7, hilos_flows=args.hilos_flows, hilos_contact_runs=args.hilos_runs,
                    twilio_flows=args.twilio_flows, twilio_executions=args.twilio_executions,
                    history_days=args.history_days)
    cli = [sys.executable, "-m", "pipelines.cli"]
    here = Path(__file__).resolve().parent.parent
    with Simulator(cfg) as sim, tempfile.TemporaryDirectory(prefix="flowsync-report-") as tmp:
        work = Path(tmp)
        db = work / "w.duckdb"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SOURCES__", "DESTINATION__"))}
        env.update(DESTINATION__DUCKDB__CREDENTIALS=str(db), PYTHONPATH=str(here),
                   SOURCES__HILOS__BASE_URL=sim.base_url,
                   SOURCES__HILOS__API_TOKEN=cfg.hilos_api_token,
                   SOURCES__TWILIO_STUDIO__BASE_URL=sim.base_url,
                   SOURCES__TWILIO_STUDIO__ACCOUNT_SID=cfg.twilio_account_sid,
                   SOURCES__TWILIO_STUDIO__AUTH_TOKEN=cfg.twilio_auth_token)
        load = timed([*cli, "run"], env, work)
        print(f"loaded {args.hilos_runs:,} Hilos runs ({args.hilos_flows} flows) and "
              f"{args.twilio_executions:,} Twilio executions ({args.twilio_flows} flows) over "
              f"{args.history_days} days in {load:.1f} s", flush=True)
        old_env = None
        if args.baseline:
            tree = work / "baseline"
            tree.mkdir()
            archive = subprocess.run(["git", "-C", str(here), "archive", args.baseline],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            old_env = {**env, "PYTHONPATH": str(tree)}
        walls, floors, olds = [], [], []
        for _ in range(args.repeat):  # alternating, so the machine's noise falls on all
            walls.append(timed([*cli, "report", "--output", str(work / "r.html")], env, work))
            floors.append(timed([sys.executable, "-c", FLOOR, str(db)], env, work))
            if old_env is not None:
                olds.append(timed([*cli, "report", "--output", str(work / "old.html")],
                                  old_env, work))
        size = (work / "r.html").stat().st_size
        wall, floor = statistics.median(walls), statistics.median(floors)
        print(f"flowsync report: {wall:.2f} s (median of {args.repeat}; reading the tables "
              f"alone {floor:.2f} s: {wall / floor:.1f}x), file {size / 1024:,.0f} KiB")
        if olds:
            old = statistics.median(olds)
            print(f"{args.baseline}'s report of the same warehouse: {old:.2f} s "
                  f"({wall / old:.2f}x of it), file "
                  f"{(work / 'old.html').stat().st_size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
