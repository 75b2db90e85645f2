"""What `privacy.contact_address = hash` costs: a first load with and without it, side by
side on one simulator, and the rewrite of a warehouse loaded in clear.

    python -m benchmarks.privacy --hilos-runs 1000000 [--destination postgres]

Each load is `flowsync run --source hilos --no-transform` (a subprocess) into a fresh
warehouse; the loads alternate keep, hash, keep, hash... so the machine's noise falls on
both. Also printed: HMAC-SHA256 of as many addresses in a bare loop (the floor of the
extra work), and `reconcile` turning the clear warehouse into a hashed one.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.lock_hold import _Database
from simulator import SimConfig, Simulator

KEY = "benchmark-key-0f3c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hilos-runs", type=int, default=1_000_000)
    parser.add_argument("--destination", default="duckdb", choices=["duckdb", "postgres"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    cfg = SimConfig(seed=4, hilos_flows=8, hilos_contact_runs=args.hilos_runs, twilio_flows=0,
                    twilio_executions=0, history_days=20)
    walls: dict[str, list[float]] = {"keep": [], "hash": []}
    with Simulator(cfg) as sim, tempfile.TemporaryDirectory(prefix="flowsync-priv-") as tmp:
        base = {**os.environ, "SOURCES__HILOS__BASE_URL": sim.base_url,
                "SOURCES__HILOS__API_TOKEN": cfg.hilos_api_token, "PRIVACY__HASH_KEY": KEY}
        for i in range(args.repeat):
            for mode in ("keep", "hash"):
                with _Database(args.destination) as dsn:
                    env = {**base, "PRIVACY__CONTACT_ADDRESS": mode,
                           "FLOWSYNC__STATE_DIR": f"{tmp}/{mode}{i}.state",
                           "DESTINATION__DUCKDB__CREDENTIALS": f"{tmp}/{mode}{i}.duckdb"}
                    if dsn:
                        env["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--source",
                                    "hilos", "--no-transform", "--destination",
                                    args.destination], env=env, check=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    walls[mode].append(time.perf_counter() - t0)
                    print(f"first load, {mode}: {walls[mode][-1]:.2f} s", flush=True)
                    if mode == "keep" and i == 0:
                        rewrite = _rewrite(args.destination, env)
        phones = [run.contact.phone for run in sim.world.hilos_runs]
    t0 = time.perf_counter()
    for phone in phones:
        hmac.new(KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()
    bare = time.perf_counter() - t0
    keep, hashed = statistics.median(walls["keep"]), statistics.median(walls["hash"])
    print(f"{args.destination}, {args.hilos_runs:,} Hilos runs: first load keep {keep:.2f} s, "
          f"hash {hashed:.2f} s (medians of {args.repeat}): {hashed - keep:+.2f} s, ratio "
          f"{hashed / keep:.3f}")
    print(f"HMAC of {len(phones):,} addresses in a bare loop: {bare:.2f} s")
    print(f"rewrite of the clear warehouse to hash (2 address columns, names, emails, meta): "
          f"{rewrite:.2f} s")


def _rewrite(kind: str, env: dict[str, str]) -> float:
    """Seconds `reconcile` takes to hash what a clear warehouse holds."""
    from pipelines.privacy import reconcile
    from pipelines.warehouse import make_destination
    from sources.privacy import Privacy

    os.environ.update(env)
    destination = make_destination(kind)
    with destination.warehouse() as wh:
        t0 = time.perf_counter()
        done = reconcile(wh, Privacy.from_settings("hash", KEY), rewrite=False)
        seconds = time.perf_counter() - t0
    assert done.problem is None and done.changed, done
    return seconds


if __name__ == "__main__":
    main()
