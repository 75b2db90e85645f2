"""Hilos sync cost: first load, then an incremental run after new runs and status changes.

    python -m benchmarks.hilos_incremental --contact-runs 100000

Simulator on loopback, DuckDB in a temporary folder, one process. Prints requests and
wall time per phase.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import dlt

from benchmarks.common import timed_sync
from simulator import SimConfig, Simulator
from sources.hilos import hilos_source, make_http

LOCAL_POSTGRES = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contact-runs", type=int, default=100_000)
    parser.add_argument("--new-share", type=float, default=0.01, help="new runs, share of total")
    parser.add_argument("--change-share", type=float, default=0.05,
                        help="runs that change status, share of total")
    parser.add_argument("--format", default="parquet",
                        choices=["parquet", "jsonl", "insert_values", "csv"],
                        help="dlt loader file format")
    parser.add_argument("--destination", default="duckdb", choices=["duckdb", "postgres"],
                        help="postgres: the DSN in FLOWSYNC_BENCH_POSTGRES (default local)")
    parser.add_argument("--history-days", type=int, default=14,
                        help="days the runs spread over; fewer days, more runs still open")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    cfg = SimConfig(seed=args.seed, twilio_flows=0, twilio_executions=0, hilos_flows=8,
                    hilos_contact_runs=args.contact_runs, history_days=args.history_days)
    with Simulator(cfg) as sim, tempfile.TemporaryDirectory() as tmp:
        dataset = f"bench_hilos_{os.getpid()}"
        destination = (dlt.destinations.duckdb(str(Path(tmp) / "w.duckdb"))
                       if args.destination == "duckdb" else dlt.destinations.postgres(
                           os.environ.get("FLOWSYNC_BENCH_POSTGRES", LOCAL_POSTGRES)))
        pipeline = dlt.pipeline("bench_hilos", pipelines_dir=str(Path(tmp) / "p"),
                                destination=destination, dataset_name=dataset)

        def sync(label: str) -> None:
            http = make_http(cfg.hilos_api_token, sim.base_url)
            timed_sync(pipeline, hilos_source(api_token=cfg.hilos_api_token, base_url=sim.base_url,
                                              http=http), sim, label, args.format)

        print(f"hilos: {len(sim.world.hilos_runs)} contact runs, "
              f"{len(sim.world.hilos_batches)} flow executions; {args.destination}, "
              f"loader format {args.format}")
        sync("first load")
        now_us = sim.world.now_us
        open_runs = sum(1 for r in sim.world.hilos_runs if r.end > now_us)
        target = round(args.change_share * len(sim.world.hilos_runs))
        before = {r.id: r.status(now_us) for r in sim.world.hilos_runs}
        sim.advance(60, new_twilio=0, new_hilos=round(args.new_share * len(before)),
                    finish_fraction=min(1.0, target / open_runs) if open_runs else 0.0)
        after_us = sim.world.now_us
        changed = sum(1 for r in sim.world.hilos_runs
                      if r.id in before and before[r.id] != r.status(after_us))
        new = len(sim.world.hilos_runs) - len(before)
        print(f"then: {new} new runs, {changed} status changes ({open_runs} were open)")
        sync("incremental")
        sync("incremental, nothing new")
        if args.destination == "postgres":
            with pipeline.sql_client() as c:
                c.drop_dataset()


if __name__ == "__main__":
    main()
