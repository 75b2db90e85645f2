"""`flowsync demo`: the simulator, both sources, a DuckDB file and a summary. Offline."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from simulator import SimConfig, Simulator
from sources import registry

from .app import Exit, run_sources
from .config import environment
from .progress import Progress
from .report import write_report
from .warehouse import make_destination

DEMO_MARKER = "_flowsync_demo"
# a realistic account: both providers, a few dozen flows, tens of thousands of runs
DEMO_SCALE = dict(twilio_flows=12, twilio_executions=8_000, hilos_flows=8,
                  hilos_contact_runs=20_000, history_days=35)
SMALL_SCALE = dict(twilio_flows=3, twilio_executions=400, hilos_flows=2,
                   hilos_contact_runs=600, history_days=35)

SUMMARY_SQL = """
select provider, max(flow_name) as flow_name, sum(runs_total) as runs,
       sum(runs_finished) as finished, sum(runs_completed) as completed,
       case when sum(runs_finished) > 0
            then cast(sum(runs_completed) as double) / sum(runs_finished) end as completion_rate
from analytics.completion_rate
group by provider, flow_id
order by provider, flow_name nulls last
"""


def _prepare(path: Path) -> str | None:
    """Clears a previous demo's file; refuses to touch any other file. Returns a problem."""
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path)) as con:
            is_demo = con.execute(
                "select count(*) from information_schema.tables where table_name = ?",
                [DEMO_MARKER]).fetchone()[0] > 0
    except duckdb.Error:
        is_demo = False
    if not is_demo:
        return (f"{path} exists and was not made by `flowsync demo`; choose another path "
                "with --duckdb")
    path.unlink()
    Path(f"{path}.wal").unlink(missing_ok=True)
    return None


def run_demo(duckdb_path: str, small: bool = False, privacy: str = "keep") -> int:
    """Runs the demo; returns the exit code."""
    path = Path(duckdb_path).expanduser().resolve()
    problem = _prepare(path)
    if problem:
        print(f"flowsync demo: {problem}", file=sys.stderr)
        return Exit.CONFIG
    t0 = time.perf_counter()
    # every record shape the specs allow, as real accounts hold (simulator/shapes.py)
    scale = SMALL_SCALE if small else DEMO_SCALE
    with Simulator(SimConfig(seed=42, spec_shapes=True, **scale)) as sim, \
            tempfile.TemporaryDirectory(prefix="flowsync-demo-") as dlt_dir:
        print(f"flowsync demo: simulator on {sim.base_url}: {sim.describe()}")
        if privacy != "keep":
            print(f"flowsync demo: contact addresses {privacy}"
                  + ("ed with HMAC-SHA256 and a key made for this demo (not shown)"
                     if privacy == "hash" else "ped: not stored"))
        # the demo's own settings only: none of the user's accounts or dbt project
        unset = {f"SOURCES__{name.upper()}__ACCOUNTS": "" for name in registry.names()}
        with environment(DLT_DATA_DIR=dlt_dir, FLOWSYNC__STATE_DIR=dlt_dir,
                  PRIVACY__CONTACT_ADDRESS=privacy, PRIVACY__HASH_KEY=secrets.token_hex(32),
                  TRANSFORM__DBT_PROJECT="", **unset, **sim.pipeline_env()):
            code, _ = run_sources(registry.names(), "duckdb", str(path), analytics=True,
                                  progress=Progress())
    if code != Exit.OK:
        return code
    report = path.with_name(f"{path.stem}-report.html")
    with make_destination("duckdb", str(path)).warehouse() as wh:
        wh.execute(f"create table {DEMO_MARKER} as select now() as created_at")
        rows = wh.rows(SUMMARY_SQL)
        written = write_report(wh, str(path), report)
    print(f"\nCompletion rate per flow (test runs excluded; "
          f"{time.perf_counter() - t0:.0f} s end to end):\n")
    print(_table(["provider", "flow", "runs", "finished", "completed", "completion"], [
        (p, "(no flow)" if f is None else f, f"{n:,}", f"{fin:,}", f"{c:,}",
         "-" if r is None else f"{r:.1%}")
        for p, f, n, fin, c, r in rows]))
    print(f"""
Where to look next:
  the report:     {written.path} ({written.summary}); open it in a browser
  the warehouse:  {path}
  analytics:      analytics.flow_runs, completion_rate, status_funnel, status_counts,
                  step_funnel (README: one section per table)
  raw data:       {RAW}
  try:            {_example(path)}
  against your own accounts: put credentials in .dlt/secrets.toml and run `flowsync run`""")
    return Exit.OK


RAW = ", ".join(f"{s.dataset} ({', '.join(t.name for t in s.tables)})" for s in registry.SOURCES)


def _example(path: Path) -> str:
    sql = "select * from analytics.status_funnel order by flow_name, stage_order limit 9"
    return f"""python -c "import duckdb; print(duckdb.connect('{path}').sql('{sql}'))\""""


def _table(header: list[str], rows: list[tuple]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    right = {2, 3, 4, 5}

    def line(cells) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=False)))

    return "\n".join([line(header), line("-" * w for w in widths), *(line(r) for r in rows)])
