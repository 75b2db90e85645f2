"""How long a rebuild holds the warehouse: the time other runs and DuckDB readers wait.

    python -m benchmarks.lock_hold --hilos-runs 1000000 [--destination postgres]

Loads a simulated account once (`flowsync run --no-transform`, a subprocess), then times
`flowsync transform` in this process three times, from asking for the warehouse's lock to
letting it go (nobody else waiting). Beside it, the floor: one `create table ... as select`
copy of the raw contact runs, the least a rebuild that reads them can cost. Postgres: the
DSN in FLOWSYNC_BENCH_POSTGRES (default the local server), a database of its own, dropped
after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from simulator import SimConfig, Simulator

LOCAL_POSTGRES = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hilos-runs", type=int, default=1_000_000)
    parser.add_argument("--twilio-executions", type=int, default=20_000)
    parser.add_argument("--destination", default="duckdb", choices=["duckdb", "postgres"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    cfg = SimConfig(seed=3, hilos_flows=8, hilos_contact_runs=args.hilos_runs, twilio_flows=10,
                    twilio_executions=args.twilio_executions, history_days=20)
    with Simulator(cfg) as sim, tempfile.TemporaryDirectory(prefix="flowsync-lock-") as tmp, \
            _Database(args.destination) as dsn:
        env = flowsync_env(sim, tmp, dsn)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--no-transform",
                        "--destination", args.destination], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"{args.destination}: loaded {args.hilos_runs:,} Hilos runs and "
              f"{args.twilio_executions:,} Twilio executions in {time.perf_counter() - t0:.1f} s")
        os.environ.update(env)
        held, floor = _measure(args.destination, args.repeat)
    print(f"transform holds the warehouse: {', '.join(f'{s:.2f} s' for s in held)} "
          f"(median {statistics.median(held):.2f} s)")
    print(f"floor, one copy of the raw contact runs: {statistics.median(floor):.2f} s; "
          f"ratio {statistics.median(held) / statistics.median(floor):.1f}x")


def flowsync_env(sim: Simulator, tmp: str, dsn: str | None) -> dict[str, str]:
    """The environment of a `flowsync` subprocess against `sim`: its state and DuckDB file
    in `tmp`, the Postgres database `dsn` when there is one."""
    cfg = sim.world.config
    env = {**os.environ, "FLOWSYNC__STATE_DIR": f"{tmp}/state",
           "DESTINATION__DUCKDB__CREDENTIALS": f"{tmp}/w.duckdb",
           "SOURCES__HILOS__BASE_URL": sim.base_url,
           "SOURCES__HILOS__API_TOKEN": cfg.hilos_api_token,
           "SOURCES__TWILIO_STUDIO__BASE_URL": sim.base_url,
           "SOURCES__TWILIO_STUDIO__ACCOUNT_SID": cfg.twilio_account_sid,
           "SOURCES__TWILIO_STUDIO__AUTH_TOKEN": cfg.twilio_auth_token}
    if dsn:
        env["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
    return env


def _measure(kind: str, repeat: int) -> tuple[list[float], list[float]]:
    from pipelines.app import Exit, holding, transform
    from pipelines.config import telemetry_off_unless_asked
    from pipelines.warehouse import make_destination

    telemetry_off_unless_asked()
    destination = make_destination(kind)
    held, floor = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        assert holding(destination, transform) == Exit.OK
        held.append(time.perf_counter() - t0)
        with destination.warehouse() as wh:
            t0 = time.perf_counter()
            wh.execute("create table hilos.bench_copy as select * from "
                       "hilos.flow_execution_contacts")
            floor.append(time.perf_counter() - t0)
            wh.execute("drop table hilos.bench_copy")
    return held, floor


class _Database:
    """A fresh Postgres database for the run (None for DuckDB)."""

    def __init__(self, kind: str) -> None:
        self.kind, self.name = kind, f"flowsync_bench_{uuid.uuid4().hex[:8]}"
        self.admin_dsn = os.environ.get("FLOWSYNC_BENCH_POSTGRES", LOCAL_POSTGRES)

    def _admin(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        conn.cursor().execute(sql)
        conn.close()

    def __enter__(self) -> str | None:
        if self.kind != "postgres":
            return None
        self._admin(f"create database {self.name}")
        return self.admin_dsn.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.kind == "postgres":
            self._admin(f"drop database if exists {self.name} with (force)")


if __name__ == "__main__":
    main()
