"""The analytics rebuild after a small change against a full rebuild, at scale.

    python -m benchmarks.transform --runs 1000000 [--destination postgres]

Writes a year of raw rows straight into the warehouse, the way dlt lays them out (one
load): `--runs` Hilos contact runs over 20 flows, and a fiftieth as many Twilio executions
over 10 flows with 4 steps each. Times a full rebuild (`flowsync transform --full`'s code)
beside the floor, one `create table ... as select` copy of the raw contact runs. Then, for
each change (0.1% and 1% of the runs: half of them finishing, half new, in a new load),
times the rebuild that follows (only what changed) and a full rebuild of the same rows,
side by side. Postgres: a database of its own (FLOWSYNC_BENCH_POSTGRES or the local
server), dropped after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from benchmarks.lock_hold import _Database

DAY = 86_400
START = "2025-12-01 00:00:00+00"
SPREAD = f"(cast(i as bigint) * 7919 % {365 * DAY})"  # run i's second of the year
RECENT = "timestamptz '2026-11-23 00:00:00+00'"  # the last week of that year


def _raw(wh, runs: int) -> None:
    executions = max(runs // 50, 10)
    wh.execute("create schema if not exists hilos")
    wh.execute("create schema if not exists twilio_studio")
    wh.execute(
        "create table hilos.flow_execution_contacts as select md5(cast(i as text)) as id, "
        "case i % 10 when 0 then 'RUNNING' when 1 then 'FAILED' when 2 then 'EXPIRED' "
        "when 3 then 'READY' else 'COMPLETED' end as status, "
        f"timestamptz '{START}' + interval '1 second' * {SPREAD} as created_on, "
        "i % 97 = 0 as is_test, 'flow' || cast(i % 20 as text) as flow, "
        "'Flow ' || cast(i % 20 as text) as flow_name, '1' as flow_version, "
        "'+1555' || cast(i as text) as contact__phone, 'default' as account, "
        "'1764547200.0' as _dlt_load_id, cast(i as text) as _dlt_id "
        f"from generate_series(1, {runs}) as g(i)")
    wh.execute(
        "create table twilio_studio.flows as select 'FW' || md5('f' || cast(i as text)) as sid, "
        "'Flow ' || cast(i as text) as friendly_name, 'default' as account, "
        "'{\"initial_state\": \"Trigger\", \"states\": [{\"name\": \"Trigger\", \"type\": "
        "\"trigger\", \"transitions\": [{\"next\": \"ask\"}]}, {\"name\": \"ask\", \"type\": "
        "\"send-and-wait-for-reply\", \"transitions\": [{\"next\": \"thanks\"}]}, {\"name\": "
        "\"thanks\", \"type\": \"send-message\", \"transitions\": []}]}' as definition, "
        "'1764547200.0' as _dlt_load_id from generate_series(0, 9) as g(i)")
    wh.execute(
        "create table twilio_studio.executions as select 'FN' || md5(cast(i as text)) as sid, "
        "'FW' || md5('f' || cast(i % 10 as text)) as flow_sid, "
        "case when i % 10 = 0 then 'active' else 'ended' end as status, "
        f"timestamptz '{START}' + interval '1 second' * {SPREAD} as date_created, "
        "'+1444' || cast(i as text) as contact_channel_address, "
        "'default' as account, '1764547200.0' as _dlt_load_id, cast(i as text) as _dlt_id "
        f"from generate_series(1, {executions}) as g(i)")
    wh.execute(
        "create table twilio_studio.execution_steps as select "
        "'FT' || md5(cast(i as text) || '-' || cast(s as text)) as sid, "
        "'FN' || md5(cast(i as text)) as execution_sid, "
        "'FW' || md5('f' || cast(i % 10 as text)) as flow_sid, "
        "case s when 3 then 'incomingMessage' else 'sent' end as name, "
        "case s when 0 then 'Trigger' when 1 then 'ask' else 'thanks' end as transitioned_from, "
        "case s when 0 then 'ask' when 1 then 'thanks' else 'Ended' end as transitioned_to, "
        f"timestamptz '{START}' + interval '1 second' * ({SPREAD} + s * 60) "
        "as date_created, 'default' as account, '1764547200.0' as _dlt_load_id, "
        "cast(i as text) as _dlt_id "
        f"from generate_series(1, {executions}) as g(i), generate_series(0, 2) as t(s) "
        "where i % 10 <> 0")
    for dataset in ("hilos", "twilio_studio"):
        wh.execute(f"create table {dataset}._dlt_loads (load_id text, schema_name text, "
                   "status bigint, inserted_at timestamptz, schema_version_hash text)")
        wh.execute(f"insert into {dataset}._dlt_loads values ('1764547200.0', %s, 0, "
                   f"timestamptz '{START}', null)", (dataset,))


def _change(wh, runs: int, fraction: float, round_: int) -> None:
    """`fraction` of the runs change in a new load, as a day of real runs does: half are
    new, half are runs of the last week that finish."""
    load = f"{time.time():.6f}"
    every = max(round((7 / 365) / (fraction / 2)), 1)  # of the last week's runs
    wh.execute(f"update hilos.flow_execution_contacts set status = 'COMPLETED', "
               f"_dlt_load_id = %s where created_on >= {RECENT} and "
               f"mod(cast(_dlt_id as bigint), {every}) = {round_ % every}", (load,))
    new = int(runs * fraction / 2)
    base = runs * 10 + round_ * runs
    wh.execute(
        "insert into hilos.flow_execution_contacts select md5('n' || cast(i as text)), "
        "'RUNNING', timestamptz '2026-11-30 12:00:00+00', false, "
        "'flow' || cast(mod(i, 20) as text), 'Flow ' || cast(mod(i, 20) as text), '1', "
        "'+1666' || cast(i as text), 'default', %s, cast(i as text) "
        f"from generate_series({base}, {base + new - 1}) as g(i)", (load,))
    wh.execute(f"update twilio_studio.executions set status = 'ended', _dlt_load_id = %s "
               f"where date_created >= {RECENT} and "
               f"mod(cast(_dlt_id as bigint), {every}) = {round_ % every}", (load,))
    for dataset in ("hilos", "twilio_studio"):
        wh.execute(f"insert into {dataset}._dlt_loads values (%s, %s, 0, now(), null)",
                   (load, dataset))


def _timed(work) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--destination", default="duckdb", choices=["duckdb", "postgres"])
    parser.add_argument("--changes", default="0.001,0.01")
    args = parser.parse_args()
    print(measure(args.destination, args.runs, [float(c) for c in args.changes.split(",")]))


def measure(kind: str, runs: int, changes: list[float]) -> str:
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
        with make_destination(kind).warehouse() as wh:
            seconds = _timed(lambda: _raw(wh, runs))
            lines.append(f"{kind}, {runs:,} Hilos runs and {max(runs // 50, 10):,} Twilio "
                         f"executions written in {seconds:.1f} s")
            full = _timed(lambda: rebuild(wh, full=True))
            floor = _timed(lambda: wh.execute("create table hilos.bench_copy as select * "
                                              "from hilos.flow_execution_contacts"))
            wh.execute("drop table hilos.bench_copy")
            lines.append(f"  full rebuild {full:.2f} s; floor (one copy of the raw runs) "
                         f"{floor:.2f} s; ratio {full / floor:.1f}x")
            for i, fraction in enumerate(changes):
                _change(wh, runs, fraction, i + 1)
                built = None

                def incremental() -> None:
                    nonlocal built
                    built = rebuild(wh)

                inc = _timed(incremental)
                assert built is not None and built.full_because is None, built
                again = _timed(lambda: rebuild(wh, full=True))
                lines.append(f"  after a {fraction:.1%} change: rebuild of what changed "
                             f"{inc:.2f} s, full rebuild {again:.2f} s: {inc / again:.0%} "
                             "of the full")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
