"""What the tests expect: the simulator's own records as the rows a load must hold, the
columns they are compared on, and the secrets that must never leak."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from simulator import Simulator
from simulator.world import TWILIO_RETENTION_SECONDS


def utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


HILOS_TOKEN = "tok-hilos-test-7f3a9c"
CONTACT_COLUMNS = "id, status, created_on, is_test, flow, flow_version, flow_name, contact__phone"
HILOS_EXECUTION_COLUMNS = ("id, status, created_on, num_contacts, running, completed, canceled, "
                           "failed, expired, avg_completion_time, flow_version")


TWILIO_SECRET = "tw-secret-0a1b2c3d4e"
EXEC_COLUMNS = "sid, flow_sid, status, date_created, date_updated, contact_channel_address"
STEP_COLUMNS = "sid, execution_sid, flow_sid, name, transitioned_from, transitioned_to, date_created"


def contact_truth(sim: Simulator) -> list[tuple]:
    out = []
    for run in sim.world.hilos_runs:
        j = sim.hilos.contact_run_json(run)
        out.append((j["id"], j["status"], ts(j["created_on"]), j.get("is_test"), j["flow"],
                    j["flow_version"], j["flow_name"], j["contact"]["phone"]))
    return sorted(out)


def hilos_execution_truth(sim: Simulator) -> list[tuple]:
    out = []
    for b in sim.world.hilos_batches:
        j = sim.hilos.flow_execution_json(b)
        out.append((j["id"], j["status"], ts(j["created_on"]), j["num_contacts"], j["running"],
                    j["completed"], j["canceled"], j["failed"], j["expired"],
                    j["avg_completion_time"], j["flow_version"]))
    return sorted(out)


def visible_floor(sim: Simulator) -> int:
    return sim.world.now - TWILIO_RETENTION_SECONDS


def execution_truth(sim: Simulator, since: int, version: str = "v2") -> list[tuple]:
    """Every execution created since `since` (the first sync's retention floor), as now."""
    out = []
    for flow in sim.world.live_twilio_flows():
        for e in flow.executions:
            if e.date_created >= since:
                j = sim.twilio.execution_json(sim.base_url, version, e)
                out.append((j["sid"], j["flow_sid"], j["status"], ts(j["date_created"]),
                            ts(j["date_updated"]), j["contact_channel_address"]))
    return sorted(out)


def step_truth(sim: Simulator, since: int) -> list[tuple]:
    now = sim.world.now
    out = []
    for flow in sim.world.live_twilio_flows():
        for e in flow.executions:
            if e.date_created >= since and e.status(now) == "ended":
                for sid, t, name, frm, to, _ in e.steps(now):
                    out.append((sid, e.sid, flow.sid, name, frm, to,
                                ts(sim.twilio.step_json("", "v2", e, (sid, t, name, frm, to, _))
                                   ["date_created"])))
    return sorted(out)


def ended_sids(sim: Simulator, since: int) -> set[str]:
    now = sim.world.now
    return {e.sid for f in sim.world.live_twilio_flows() for e in f.executions
            if e.date_created >= since and e.status(now) == "ended"}


HILOS_CONTACTS = f"select {CONTACT_COLUMNS} from hilos.flow_execution_contacts order by id"
HILOS_EXECUTIONS = f"select {HILOS_EXECUTION_COLUMNS} from hilos.flow_executions order by id"
TWILIO_EXECUTIONS = f"select {EXEC_COLUMNS} from twilio_studio.executions order by sid"
TWILIO_STEPS = f"select {STEP_COLUMNS} from twilio_studio.execution_steps order by sid"


FINISHED = {"completed", "canceled", "expired", "failed"}
HILOS_STATUS = {"READY": "pending", "RUNNING": "running", "COMPLETED": "completed",
                "CANCELED": "canceled", "EXPIRED": "expired", "FAILED": "failed"}


def twilio_outcome(event: str) -> str:
    if event == "timeout":
        return "expired"
    return "failed" if event in ("failed", "fail", "deliveryFailure") else "completed"


def expected_completion_rate(sim: Simulator, since: int) -> list[tuple]:
    """Per provider, flow and UTC day, the columns `COMPLETION_RATE` reads."""
    return [(r[0], *r[2:8], r[9], r[10]) for r in expected_days(sim, since)]


def expected_days(sim: Simulator, since: int, zone: str = "UTC",
                  account: str = "default") -> list[tuple]:
    """Every column of completion_rate, per provider, flow and day of `zone`, from the
    world of `account` (the simulator's first by default); Twilio executions created since
    `since` (the first sync's retention floor: the warehouse keeps what the API later
    drops)."""
    world, tz = sim.account_world(account), ZoneInfo(zone)
    groups: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "fin": 0, "done": 0, "secs": []})
    for run in world.hilos_runs:
        if run.is_test:
            continue
        day = datetime.fromtimestamp(run.created_on / 1e6, tz).date()
        flow = run.batch.flow
        g = groups[("hilos", flow.id if flow else None, day, flow.name if flow else None)]
        status = HILOS_STATUS[run.status(world.now_us)]
        g["n"] += 1
        g["fin"] += status in FINISHED
        g["done"] += status == "completed"
    for flow in world.twilio_flows:
        for ex in flow.executions:
            if ex.date_created < since:
                continue
            day = datetime.fromtimestamp(ex.date_created, tz).date()
            g = groups[("twilio_studio", flow.sid, day, flow.friendly_name)]
            g["n"] += 1
            if ex.ended_at <= world.now:
                status = twilio_outcome(flow.paths[ex.path].outcome_event)
                g["fin"] += 1
                if status == "completed":
                    g["done"] += 1
                    g["secs"].append(ex.duration)
    return sorted(
        (p, account, f, d, name, g["n"], g["fin"], g["done"], g["n"] - g["fin"],
         g["done"] / g["fin"] if g["fin"] else None,
         sum(g["secs"]) / len(g["secs"]) if g["secs"] else None,
         float(median(g["secs"])) if g["secs"] else None)
        for (p, f, d, name), g in groups.items())


def assert_raw_tables_are_the_truth(read: Callable[[str], list[tuple]], sim: Simulator,
                                    since: int) -> None:
    """Every raw table holds exactly the simulator's records (`read` runs SQL on the
    warehouse); Twilio's from `since`, the first sync's retention floor."""
    assert read(HILOS_CONTACTS) == contact_truth(sim)
    assert read(HILOS_EXECUTIONS) == hilos_execution_truth(sim)
    assert read(TWILIO_EXECUTIONS) == execution_truth(sim, since)
    assert read(TWILIO_STEPS) == step_truth(sim, since)


COMPLETION_RATE = ("select provider, flow_id, day, flow_name, runs_total, runs_finished, "
                   "runs_completed, completion_rate, avg_completion_seconds "
                   "from analytics.completion_rate order by 1, 2, 3, 4")


ANALYTICS = ("flow_runs", "completion_rate", "status_funnel", "status_counts", "step_funnel")


def analytics_tables(read: Callable[[str], list[tuple]]) -> dict[str, list[tuple]]:
    """Every analytics table's rows (but sync_status, whose times differ run to run), its
    columns in the contract's order (an upgraded table has new columns at its end)."""
    from transforms.contracts import contracts

    return {t: sorted(read(f"select {', '.join(contracts()[t].columns)} from analytics.{t}"),
                      key=repr) for t in ANALYTICS}


def rounded(rows: list[tuple]) -> list[tuple]:
    """Rows with numbers as floats to 9 places (Postgres' numeric, float sums' order)."""
    return [tuple(round(float(v), 9) if isinstance(v, (float, Decimal)) else v for v in r)
            for r in rows]
