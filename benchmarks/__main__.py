"""flowsync against the fetch-and-parse floor, dlt's generic rest_api source and the minimum.

    python -m benchmarks            # the README's figures (about 25 minutes on 2 cores)
    python -m benchmarks --quick    # the same measurements, small (about 2 minutes)

For each provider and scale the simulator starts in its own process (loopback, seeded,
no faults); each contender loads the same data into DuckDB in its own process, one at a
time: wall time, rows/s, API requests (counted by the simulator) and peak RSS (wait4).
Then flowsync syncs again after 1% new runs and 5% status changes, and once more with
nothing new, against the fewest requests a perfect sync would have needed: one that
pages only through new or changed runs and checks every run that was open, the cheapest
way the API allows (`simulator.minimum`; also shown: the floor for a sync that knew
exactly which runs changed). Then Twilio with a simulated latency per request: flowsync
with 1 worker and with more, beside the floor and the peer (one request at a time, as it
comes). At each Twilio scale the naive client and flowsync also run side by side in
rounds, for CPU per request (`benchmarks.cpu`). Then the peak memory of flowsync's first
loads at 10k, 100k and 1M runs of each source (`benchmarks.memory`) and the analytics
rebuild after a change against a full one (`benchmarks.transform`). Prints tables and
writes benchmarks/results/<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Sim, run_contender
from benchmarks.cpu import section as cpu_section
from benchmarks.killed import killed_half
from benchmarks.killed import report as killed_report
from benchmarks.memory import section as memory_section
from benchmarks.transform import section as transform_section

RESULTS = Path(__file__).resolve().parent / "results"
CONTENDERS = ("floor", "peer", "naive", "flowsync")  # flowsync last: its incremental runs follow


def _minimum(sim: Sim, provider: str, since: str | None = None) -> tuple[int, int]:
    """(knowing exactly what changed, checking every open run): see simulator.minimum."""
    body = sim.get("minimum", **({"since": since} if since else {}))
    side = body["hilos" if provider == "hilos" else "twilio"]
    return side["total"], side["checking_open"]["total"]


def scale(provider: str, runs: int, args: argparse.Namespace, out: dict) -> None:
    flows = args.hilos_flows if provider == "hilos" else args.twilio_flows
    sim = Sim(provider, runs, flows, args.history_days)
    try:
        with tempfile.TemporaryDirectory(prefix="flowsync-bench-") as tmp:
            minimum, _ = _minimum(sim, provider)
            for contender in args.contenders:
                if contender == "naive" and (provider != "twilio" or args.cpu_rounds):
                    continue  # (written for Twilio; measured in rounds: benchmarks.cpu)
                r = {"provider": provider, "runs": runs, "minimum_requests": minimum,
                     **run_contender(sim, contender, provider, Path(tmp) / contender,
                                     args.workers)}
                out["full"].append(r)
                print(f"{provider:<7} {runs:>9,} {contender:<9} {r['wall_s']:>8.2f} s "
                      f"{r['rows_per_s']:>9,} rows/s {r['requests']:>8,} requests "
                      f"(minimum {minimum:,}) {r['peak_rss_mib']:>6,} MiB peak, "
                      f"{r['cpu_s']} CPU-s", flush=True)
            mine = [r for r in out["full"] if r["provider"] == provider and r["runs"] == runs
                    and r["contender"] == "flowsync"]
            if mine and not args.no_kill:  # before the world moves on
                killed_half(sim, provider, runs, mine[0]["requests"], args.workers, out)
            if "flowsync" in args.contenders and not args.no_incremental:
                incremental(sim, provider, runs, Path(tmp) / "flowsync", args, out)
    finally:
        sim.close()


def incremental(sim: Sim, provider: str, runs: int, workdir: Path, args: argparse.Namespace,
                out: dict) -> None:
    """flowsync again after new runs and status changes, then with nothing new."""
    info = sim.get("info")
    if provider == "hilos":
        total, open_runs = info["hilos"]["contact_runs"], info["hilos"]["open_contact_runs"]
        key_new = "new_hilos"
    else:
        total, open_runs = info["twilio"]["executions"], info["twilio"]["active_executions"]
        key_new = "new_twilio"
    want = round(args.change_share * total)
    fraction = min(1.0, want / open_runs) if open_runs else 0.0
    for label in ("after changes", "nothing new"):
        since = sim.get("clock")["now"]
        if label == "after changes":
            moved = sim.post("advance", {"seconds": 60, key_new: round(args.new_share * total),
                                         "finish_fraction": fraction})
            side = "hilos_contact_runs" if provider == "hilos" else "twilio_executions"
            what = (f"{moved[f'new_{side}']:,} new, {moved[f'finished_{side}']:,} status "
                    f"changes ({open_runs:,} were open)")
        else:
            what = "nothing new"
        oracle, minimum = _minimum(sim, provider, since)
        r = run_contender(sim, "flowsync", provider, workdir, args.workers)
        r.update(provider=provider, runs=runs, sync=label, changes=what,
                 minimum_requests=minimum, minimum_knowing_changes=oracle,
                 ratio_to_minimum=round(r["requests"] / minimum, 2))
        out["incremental"].append(r)
        print(f"{provider:<7} {runs:>9,} incremental, {what}: {r['requests']:,} requests "
              f"(minimum {minimum:,}: {r['ratio_to_minimum']}x; knowing the changes "
              f"{oracle:,}) in {r['wall_s']} s", flush=True)


def latency(args: argparse.Namespace, out: dict) -> None:
    """Twilio with latency on every request: the floor and the peer, then flowsync with one
    worker and with more."""
    sim = Sim("twilio", args.latency_executions, args.twilio_flows, args.history_days)
    try:
        sim.post("faults", {"latency_ms": args.latency_ms,
                            "concurrency_limit": args.latency_concurrency_limit})
        # the floor and the peer do not back off on 429: against a limit, flowsync runs alone
        runs = [(c, args.workers) for c in args.contenders
                if c != "flowsync" and not args.latency_concurrency_limit]
        if "flowsync" in args.contenders:
            runs += [("flowsync", w) for w in args.latency_workers]
        with tempfile.TemporaryDirectory(prefix="flowsync-bench-") as tmp:
            for contender, workers in runs:
                r = run_contender(sim, contender, "twilio", Path(tmp) / f"{contender}{workers}",
                                  workers)
                r.update(provider="twilio", runs=args.latency_executions,
                         workers=1 if contender in ("peer", "naive") else workers,
                         latency_ms=args.latency_ms,
                         concurrency_limit=args.latency_concurrency_limit,
                         throttled=sim.get("stats")["responses"].get("429", 0))
                out["latency"].append(r)
                print(f"twilio  {args.latency_executions:>9,} at {args.latency_ms} ms, "
                      f"{contender}, {r['workers']} worker(s): {r['wall_s']} s, "
                      f"{r['requests']:,} requests ({r['throttled']:,} answered 429)",
                      flush=True)
    finally:
        sim.close()


def report(out: dict) -> str:
    lines = ["| provider | runs | contender | wall | rows/s | requests | peak RSS | CPU-s per "
             "1,000 requests | × floor |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in out["full"]:
        floor = next((f for f in out["full"] if f["contender"] == "floor"
                      and (f["provider"], f["runs"]) == (r["provider"], r["runs"])), None)
        ratio = f"{r['wall_s'] / floor['wall_s']:.2f}" if floor else "-"
        lines.append(f"| {r['provider']} | {r['runs']:,} | {r['contender']} | {r['wall_s']} s "
                     f"| {r['rows_per_s']:,} | {r['requests']:,} | {r['peak_rss_mib']:,} MiB "
                     f"| {1000 * r['cpu_s'] / max(1, r['requests']):.2f} | {ratio} |")
    peers = [(r, p) for r in out["full"] if r["contender"] == "flowsync"
             for p in out["full"] if p["contender"] == "peer"
             and (p["provider"], p["runs"]) == (r["provider"], r["runs"])]
    if peers:
        lines += ["", "| provider | runs | peer ÷ flowsync, wall | peer ÷ flowsync, memory |",
                  "| --- | ---: | ---: | ---: |"]
        lines += [f"| {r['provider']} | {r['runs']:,} | {p['wall_s'] / r['wall_s']:.1f} "
                  f"| {p['peak_rss_mib'] / r['peak_rss_mib']:.1f} |" for r, p in peers]
    if out["incremental"]:
        lines += ["", "| provider | runs | sync | changes | requests | minimum | × minimum "
                      "| minimum knowing the changes | wall |",
                  "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['provider']} | {r['runs']:,} | {r['sync']} | {r['changes']} "
                  f"| {r['requests']:,} | {r['minimum_requests']:,} | {r['ratio_to_minimum']} "
                  f"| {r['minimum_knowing_changes']:,} | {r['wall_s']} s |"
                  for r in out["incremental"]]
    if out.get("killed"):
        lines += ["", killed_report(out["killed"])]
    if out["latency"]:
        lines += ["", "| provider | runs | latency | contender | workers | requests | wall "
                      "| × floor (requests × latency ÷ workers) | naive ÷ contender |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        naive = next((r for r in out["latency"] if r["contender"] == "naive"), None)
        for r in out["latency"]:
            ideal = r["requests"] * r["latency_ms"] / 1000 / r["workers"]
            versus = f"{naive['wall_s'] / r['wall_s']:.1f}" if naive else "-"
            lines.append(f"| {r['provider']} | {r['runs']:,} | {r['latency_ms']} ms "
                         f"| {r['contender']} | {r['workers']} | {r['requests']:,} "
                         f"| {r['wall_s']} s | {r['wall_s'] / ideal:.2f} | {versus} |")
    return "\n".join(lines)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    mem = next((int(line.split()[1]) // 1024 // 1024 for line in
                Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small scales: 10k Hilos runs, 5k Twilio executions")
    parser.add_argument("--hilos-runs", type=int, nargs="*", default=None,
                        help="Hilos contact runs per scale (default 100000 1000000)")
    parser.add_argument("--twilio-executions", type=int, nargs="*", default=None,
                        help="Twilio executions per scale (default 20000 100000)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--hilos-flows", type=int, default=8)
    parser.add_argument("--twilio-flows", type=int, default=20)
    parser.add_argument("--history-days", type=int, default=10,
                        help="days the runs spread over; 10 leaves over 5%% of runs open")
    parser.add_argument("--workers", type=int, default=4,
                        help="concurrent requests (flowsync's max_workers and the floor's)")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--change-share", type=float, default=0.05)
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--no-kill", action="store_true",
                        help="skip the first load killed half-way")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--latency-executions", type=int, default=None,
                        help="Twilio executions for the latency runs (default 2000; 0 skips)")
    parser.add_argument("--latency-concurrency-limit", type=int, default=0, metavar="N",
                        help="the simulator answers 429 (20429) above N Twilio requests at "
                             "once during the latency run; 0: no limit")
    parser.add_argument("--latency-workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--cpu-rounds", type=int, default=None,
                        help="rounds of the naive client and flowsync side by side at each "
                             "Twilio scale (default 3, --quick 1; 0: the naive client runs "
                             "once with the other contenders; benchmarks.cpu)")
    parser.add_argument("--memory-runs", type=int, nargs="*", default=None,
                        help="first loads of each source whose peak RSS is compared (default "
                             "10000 100000 1000000; benchmarks.memory)")
    parser.add_argument("--transform-runs", type=int, nargs="*", default=None,
                        help="Hilos runs for the rebuild after a change (default 1000000 "
                             "10000000; benchmarks.transform)")
    args = parser.parse_args()
    if args.hilos_runs is None:
        args.hilos_runs = [10_000] if args.quick else [100_000, 1_000_000]
    if args.twilio_executions is None:
        args.twilio_executions = [5_000] if args.quick else [20_000, 100_000]
    if args.latency_executions is None:
        args.latency_executions = 500 if args.quick else 2_000
    if args.quick:
        args.latency_workers = [1, 4]
    if args.cpu_rounds is None:
        args.cpu_rounds = 1 if args.quick else 3
    if not {"naive", "flowsync"} <= set(args.contenders) or not args.twilio_executions:
        args.cpu_rounds = 0
    if args.memory_runs is None:
        args.memory_runs = [2_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]
    if args.transform_runs is None:
        args.transform_runs = [100_000] if args.quick else [1_000_000, 10_000_000]

    out: dict = {"machine": machine(), "started": datetime.now(UTC).isoformat(),
                 "settings": {k: v for k, v in vars(args).items()},
                 "full": [], "incremental": [], "latency": []}
    print(f"machine: {out['machine']}", flush=True)
    for runs in args.hilos_runs:
        scale("hilos", runs, args, out)
    for runs in args.twilio_executions:
        scale("twilio", runs, args, out)
    cpu_lines: list[str] = []
    if args.cpu_rounds:
        print("\nCPU per request against the naive client, in rounds (benchmarks.cpu):",
              flush=True)
        out["cpu"], cpu_lines = cpu_section(args.twilio_executions, args.cpu_rounds)
    if args.latency_executions:
        latency(args, out)
    out["memory"] = []
    if args.memory_runs:
        print("\nPeak memory of a first load as the account grows (benchmarks.memory):",
              flush=True)
        out["memory"] = memory_section(args.memory_runs)
    out["transform"] = transform_section(args.transform_runs)
    print()
    print(report(out))
    if cpu_lines:
        print("\nCPU per request against the naive client, in rounds (benchmarks.cpu):\n"
              + "\n".join(cpu_lines))
    print("\nPeak memory of a first load (benchmarks.memory):\n" + "\n".join(out["memory"]))
    print("\nThe analytics rebuild after a change, against a full rebuild "
          "(benchmarks.transform):\n" + "\n".join(out["transform"]))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
