"""Twilio Studio sync cost: first and incremental loads, with and without latency.

    python -m benchmarks.twilio_incremental --flows 20 --executions 200000

Simulator on loopback, DuckDB in a temporary folder. For each latency and concurrency
setting: a first load, then an incremental run after new executions and status changes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import dlt

from benchmarks.common import timed_sync
from simulator import SimConfig, Simulator
from sources.twilio_studio import make_http, twilio_studio_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--executions", type=int, default=200_000,
                        help="executions over --history-days, all flows together")
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0, 50])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--change-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    for latency in args.latency_ms:
        for workers in args.workers:
            run_scenario(args, latency, workers)


def run_scenario(args: argparse.Namespace, latency: float, workers: int) -> None:
    """A first load and two incremental runs at one latency and concurrency."""
    cfg = SimConfig(seed=args.seed, twilio_flows=args.flows, twilio_executions=args.executions,
                    history_days=args.history_days, hilos_flows=0, hilos_contact_runs=0)
    with Simulator(cfg) as sim, tempfile.TemporaryDirectory() as tmp:
        sim.faults.configure(latency_ms=latency)
        pipeline = dlt.pipeline("bench_twilio", pipelines_dir=str(Path(tmp) / "p"),
                                destination=dlt.destinations.duckdb(str(Path(tmp) / "w.duckdb")),
                                dataset_name="twilio_studio")

        def sync(label: str) -> None:
            http = make_http(account_sid=cfg.twilio_account_sid, auth_token=cfg.twilio_auth_token,
                             base_url=sim.base_url, max_connections=workers * 2)
            timed_sync(pipeline, twilio_studio_source(http=http, max_workers=workers), sim,
                       f"{label} [{latency:g} ms, {workers} workers]")

        world = sim.world
        retained = sum(len(world.twilio_retained(f)) for f in world.twilio_flows)
        print(f"twilio: {args.flows} flows, {retained} executions in retention")
        sync("first load")
        now = world.now
        open_ex = [e for f in world.twilio_flows for e in world.twilio_retained(f)
                   if e.ended_at > now]
        target = round(args.change_share * retained)
        summary = sim.advance(60, new_twilio=round(args.new_share * retained), new_hilos=0,
                              finish_fraction=min(1.0, target / len(open_ex)) if open_ex else 0)
        print(f"then: {summary['new_twilio_executions']} new, "
              f"{summary['finished_twilio_executions']} ended ({len(open_ex)} were active)")
        sync("incremental")
        sync("incremental, nothing new")


if __name__ == "__main__":
    main()
