"""The analytics rebuild after a small change against a full rebuild, at scale.

    python -m benchmarks.transform --runs 1000000 [--destination postgres]

Loads a simulated account through flowsync (`run --no-transform`: 20,000 Hilos runs and
2,000 Twilio executions over 20 days, every column the APIs give), then copies its raw
rows over a year, with new ids, until the warehouse holds `--runs` Hilos runs and a
fiftieth as many Twilio executions: the rows, widths and load ids of a real warehouse, at
a size no test API loads in minutes. Times a full rebuild (`flowsync transform --full`)
beside the floor, one `create table ... as select` copy of the raw contact runs. Then,
for each change (0.1% and 1% of the runs, in a load of their own, as a day of real runs
brings: half are new, half are runs of the last week that finish), times the rebuild
that follows (only what changed) and a full rebuild of the same rows, side by side.
Postgres: a database of its own (FLOWSYNC_BENCH_POSTGRES or the local server), dropped
after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.lock_hold import _Database, flowsync_env
from simulator import SimConfig, Simulator

SEED_RUNS, SEED_EXECUTIONS, SEED_DAYS = 20_000, 2_000, 20
YEAR = "interval '1 day' * 345"  # how far back the copies reach beyond the seed's days


def _load_seed(kind: str, tmp: str, dsn: str | None) -> None:
    cfg = SimConfig(seed=3, hilos_flows=8, hilos_contact_runs=SEED_RUNS, twilio_flows=10,
                    twilio_executions=SEED_EXECUTIONS, history_days=SEED_DAYS)
    with Simulator(cfg) as sim:
        env = flowsync_env(sim, tmp, dsn)
        subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--no-transform",
                        "--destination", kind], env=env, check=True, stdout=subprocess.DEVNULL)


def _copy(wh: Any, table: str, copies: int, renamed: dict[str, str]) -> None:
    """`copies` more of every row of `table`, copy k with `renamed` columns rewritten
    (`{c}` the column, `{k}` the copy) and spread back over the year."""
    if copies < 1:
        return
    columns = [c for c, _ in wh.typed_columns(*table.split("."))]
    values = ", ".join(renamed.get(c, c).format(c=f"o.{c}", k="g.k") for c in columns)
    wh.execute(f"insert into {table} ({', '.join(columns)}) select {values} from "
               f"(select * from {table}) as o, generate_series(1, {copies}) as g(k)")


def _scale(wh: Any, runs: int) -> None:
    back = f" - {YEAR} * g.k / {max(runs // SEED_RUNS - 1, 1)}"
    _copy(wh, "hilos.flow_execution_contacts", runs // SEED_RUNS - 1,
          {"id": "{c} || '-' || cast({k} as text)", "created_on": "{c}" + back})
    copies = runs // 50 // SEED_EXECUTIONS - 1
    t_back = f" - {YEAR} * g.k / {max(copies, 1)}"
    _copy(wh, "twilio_studio.executions", copies,
          {"sid": "{c} || '-' || cast({k} as text)", "date_created": "{c}" + t_back})
    _copy(wh, "twilio_studio.execution_steps", copies,
          {"sid": "{c} || '-' || cast({k} as text)",
           "execution_sid": "{c} || '-' || cast({k} as text)", "date_created": "{c}" + t_back})


def _sample(column: str, share: float) -> str:
    """A stable pseudo-random `share` of the rows, by the md5 of `column`."""
    return f"substr(md5({column}), 1, 3) < '{min(int(share * 4096), 4095):03x}'"


def _change(wh: Any, runs: int, fraction: float, round_: int) -> None:
    """`fraction` of the runs change in a load of their own: half are new, half are runs
    of the last week that finish."""
    load = f"{time.time():.6f}"
    recent = ("(select max(created_on) - interval '7 days' from "
              "hilos.flow_execution_contacts)")
    week = wh.scalar(f"select count(*) from hilos.flow_execution_contacts "
                     f"where created_on >= {recent}")
    share = min(runs * fraction / 2 / max(week, 1), 1.0)
    mark = f"'r{round_}-' || id"
    wh.execute(f"update hilos.flow_execution_contacts set status = 'COMPLETED', "
               f"_dlt_load_id = %s where created_on >= {recent} and {_sample(mark, share)}",
               (load,))
    columns = [c for c, _ in wh.typed_columns("hilos", "flow_execution_contacts")]
    new = {"id": f"'n{round_}-' || id", "status": "'RUNNING'", "_dlt_load_id": "%s",
           "created_on": "created_on + interval '7 days'"}
    wh.execute(f"insert into hilos.flow_execution_contacts ({', '.join(columns)}) select "
               f"{', '.join(new.get(c, c) for c in columns)} from "
               f"hilos.flow_execution_contacts where created_on >= {recent} and "
               f"{_sample(f'{mark} || {chr(39)}new{chr(39)}', share)}", (load,))
    wh.execute(f"update twilio_studio.executions set status = 'ended', _dlt_load_id = %s "
               f"where date_created >= (select max(date_created) - interval '7 days' from "
               f"twilio_studio.executions) and {_sample(f'{chr(39)}r{round_}-{chr(39)} || sid', share)}",
               (load,))
    for dataset in ("hilos", "twilio_studio"):
        wh.execute(f"insert into {dataset}._dlt_loads (load_id, schema_name, status, "
                   "inserted_at) values (%s, %s, 0, now())", (load, dataset))


def _timed(work: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def measure(kind: str, runs: int, changes: list[float]) -> list[str]:
    """The figures, a line each (see the module)."""
    from pipelines.config import telemetry_off_unless_asked
    from pipelines.warehouse import make_destination
    from transforms.incremental import rebuild

    telemetry_off_unless_asked()
    lines = []
    with tempfile.TemporaryDirectory(prefix="flowsync-transform-") as tmp, \
            _Database(kind) as dsn:
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = f"{tmp}/w.duckdb"
        if dsn:
            os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = dsn
        _load_seed(kind, tmp, dsn)
        with make_destination(kind).warehouse() as wh:
            _scale(wh, runs)
            held = wh.scalar("select count(*) from hilos.flow_execution_contacts")
            executions = wh.scalar("select count(*) from twilio_studio.executions")
            full = _timed(lambda: rebuild(wh, full=True))
            floor = _timed(lambda: wh.execute("create table hilos.bench_copy as select * "
                                              "from hilos.flow_execution_contacts"))
            wh.execute("drop table hilos.bench_copy")
            lines.append(f"{kind}, {held:,} Hilos runs and {executions:,} Twilio executions: "
                         f"full rebuild {full:.2f} s, floor (one copy of the raw runs) "
                         f"{floor:.2f} s: {full / floor:.1f}x the floor")
            for i, fraction in enumerate(changes):
                _change(wh, runs, fraction, i + 1)
                t0 = time.perf_counter()
                built = rebuild(wh)
                inc = time.perf_counter() - t0
                assert built.full_because is None, built.full_because
                again = _timed(lambda: rebuild(wh, full=True))
                lines.append(f"  after a {fraction:.1%} change: rebuild of what changed "
                             f"{inc:.2f} s, full rebuild {again:.2f} s: {inc / again:.0%} of "
                             "the full")
    return lines


def section(runs: list[int]) -> list[str]:
    """The figures of `python -m benchmarks`: each size on DuckDB, and on Postgres when
    the server answers."""
    lines = []
    for kind in ("duckdb", "postgres"):
        if kind == "postgres" and not _postgres_answers():
            lines.append("postgres: no server answered (FLOWSYNC_BENCH_POSTGRES); skipped")
            continue
        for n in runs:
            figures = measure(kind, n, [0.001, 0.01])
            print("\n".join(figures), flush=True)
            lines += figures
    return lines


def _postgres_answers() -> bool:
    import psycopg2

    from benchmarks.lock_hold import LOCAL_POSTGRES

    try:
        psycopg2.connect(os.environ.get("FLOWSYNC_BENCH_POSTGRES", LOCAL_POSTGRES),
                         connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--destination", default="duckdb", choices=["duckdb", "postgres"])
    parser.add_argument("--changes", default="0.001,0.01")
    args = parser.parse_args()
    for line in measure(args.destination, args.runs,
                        [float(c) for c in args.changes.split(",")]):
        print(line, flush=True)


if __name__ == "__main__":
    main()
