"""Hand-written raw rows in, exact analytics rows out, on DuckDB and on Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.warehouse import connect
from tests.expected import utc
from tests.running import database_dsn, fresh_database
from transforms.runner import CheckFailedError, Model, Warehouse, build, load_models

RAW_DDL = """
create schema if not exists hilos;
create schema if not exists twilio_studio;
create table hilos.flow_execution_contacts (
    id text, status text, created_on timestamptz, is_test boolean, flow text,
    flow_name text, flow_version text, contact__phone text, account text);
create table twilio_studio.flows (sid text, friendly_name text, definition json, account text);
create table twilio_studio.executions (
    sid text, flow_sid text, status text, date_created timestamptz,
    contact_channel_address text, account text);
create table twilio_studio.execution_steps (
    sid text, execution_sid text, flow_sid text, name text, transitioned_from text,
    transitioned_to text, date_created timestamptz, account text);
"""

# two accounts per provider: flows hB and FW2 are account acme's, the others default's
ACCOUNT = {"hA": "default", "hB": "acme", "FW1": "default", "FW2": "acme"}


def with_account(rows: list[tuple], flow_at: int = 1, at: int = 1) -> list[tuple]:
    """Expected rows with the account of the flow at `flow_at` inserted at `at`."""
    return [(*row[:at], ACCOUNT[row[flow_at]], *row[at:]) for row in rows]

# flow hA: every Hilos status, a test run, runs either side of UTC midnight;
# flow hB: nothing finished
HILOS = [
    ("h1", "READY", "2026-11-01 10:00:00+00", False, "hA"),
    ("h2", "RUNNING", "2026-11-01 11:00:00+00", False, "hA"),
    ("h3", "COMPLETED", "2026-11-01 23:59:00+00", False, "hA"),
    ("h4", "COMPLETED", "2026-11-02 00:01:00+00", False, "hA"),
    ("h5", "CANCELED", "2026-11-01 12:00:00+00", False, "hA"),
    ("h6", "EXPIRED", "2026-11-01 13:00:00+00", False, "hA"),
    ("h7", "FAILED", "2026-11-01 14:00:00+00", False, "hA"),
    ("h8", "COMPLETED", "2026-11-01 15:00:00+00", True, "hA"),
    ("h9", "READY", "2026-11-03 09:00:00+00", False, "hB"),
]
HILOS_NAMES = {"hA": "Welcome", "hB": "Promo"}

# definitions (Studio's JSON): FW1 Trigger -> ask -> thanks, thanks loops back to ask on
# failure, orphan unreachable; FW2 Trigger -> menu -> billing or agent, billing -> agent
DEFINITIONS = {"FW1": {'initial_state': 'Trigger', 'states': [{'name': 'Trigger', 'type': 'trigger', 'transitions': [{'event': 'incomingMessage', 'next': 'ask'}]}, {'name': 'ask', 'type': 'send-and-wait-for-reply', 'transitions': [{'event': 'incomingMessage', 'next': 'thanks'}, {'event': 'timeout'}]}, {'name': 'thanks', 'type': 'send-message', 'transitions': [{'event': 'sent'}, {'event': 'failed', 'next': 'ask'}]}, {'name': 'orphan', 'type': 'say-play', 'transitions': []}]},
               "FW2": {'initial_state': 'Trigger', 'states': [{'name': 'Trigger', 'type': 'trigger', 'transitions': [{'event': 'incomingCall', 'next': 'menu'}]}, {'name': 'menu', 'type': 'gather-input-on-call', 'transitions': [{'event': 'keypress', 'next': 'billing'}, {'event': 'speech', 'next': 'agent'}]}, {'name': 'billing', 'type': 'split-based-on', 'transitions': [{'event': 'noMatch', 'next': 'agent'}]}, {'name': 'agent', 'type': 'connect-call-to', 'transitions': [{'event': 'hangup'}]}]}}
TWILIO_FLOWS = [("FW1", "Support", json.dumps(DEFINITIONS["FW1"])),
                ("FW2", "Survey", json.dumps(DEFINITIONS["FW2"]))]
# sid, flow, status, created
EXECUTIONS = [
    ("t1", "FW1", "ended", "2026-11-01 10:00:00+00"),   # sent into Ended: completed, 120 s
    ("t2", "FW1", "ended", "2026-11-01 11:00:00+00"),   # timeout: expired, 3600 s
    ("t3", "FW1", "ended", "2026-11-01 12:00:00+00"),   # deliveryFailure: failed
    ("t4", "FW1", "ended", "2026-11-01 12:30:00+00"),   # no steps: completed, no end
    ("t5", "FW1", "active", "2026-11-01 13:00:00+00"),  # running
    ("t6", "FW2", "ended", "2026-11-01 09:00:00+00"),   # no step into Ended; tie by sid
    ("t7", "FW2", "ended", "2026-11-01 23:59:30+00"),   # failed, ends after midnight
    ("t8", "FW2", "ended", "2026-11-02 00:00:10+00"),   # fail: failed, next UTC day
]
# sid, execution, event, from, to, at
STEPS = [
    ("FT01", "t1", "incomingMessage", "Trigger", "ask", "2026-11-01 10:00:00+00"),
    ("FT02", "t1", "reply", "ask", "thanks", "2026-11-01 10:01:00+00"),
    ("FT03", "t1", "sent", "thanks", "Ended", "2026-11-01 10:02:00+00"),
    ("FT04", "t2", "incomingMessage", "Trigger", "ask", "2026-11-01 11:00:00+00"),
    ("FT05", "t2", "timeout", "ask", "Ended", "2026-11-01 12:00:00+00"),
    ("FT06", "t3", "incomingMessage", "Trigger", "ask", "2026-11-01 12:00:00+00"),
    ("FT07", "t3", "deliveryFailure", "ask", "Ended", "2026-11-01 12:00:30+00"),
    ("FT08", "t5", "incomingMessage", "Trigger", "ask", "2026-11-01 13:00:00+00"),
    ("FT09", "t6", "incomingCall", "Trigger", "menu", "2026-11-01 09:00:00+00"),
    ("FT10", "t6", "fail", "menu", "agent", "2026-11-01 09:05:00+00"),
    ("FT11", "t6", "keypress", "menu", "billing", "2026-11-01 09:05:00+00"),
    ("FT12", "t7", "incomingCall", "Trigger", "menu", "2026-11-01 23:59:30+00"),
    ("FT13", "t7", "failed", "menu", "Ended", "2026-11-02 00:00:30+00"),
    ("FT14", "t8", "incomingCall", "Trigger", "menu", "2026-11-02 00:00:10+00"),
    ("FT15", "t8", "fail", "menu", "Ended", "2026-11-02 00:01:10+00"),
]


def T(text: str) -> datetime:  # noqa: N802 (short, for the tables of expected rows)
    return datetime.fromisoformat(text).astimezone(UTC)


def load_fixtures(wh: Warehouse, hilos: bool = True, twilio: bool = True) -> None:
    statements = [s for s in RAW_DDL.split(";") if s.strip()]
    for s in statements:
        if ("hilos" in s and hilos) or ("twilio" in s and twilio):
            wh.execute(s)

    def insert(table: str, rows: list[tuple]) -> None:
        for row in rows:
            values = ", ".join("null" if v is None else ("true" if v is True else "false")
                               if isinstance(v, bool) else "'" + str(v) + "'" for v in row)
            wh.execute(f"insert into {table} values ({values})")

    if hilos:
        insert("hilos.flow_execution_contacts",
               [(i, s, t, test, f, HILOS_NAMES[f], f"{f}-v1", f"+52{n}", ACCOUNT[f])
                for n, (i, s, t, test, f) in enumerate(HILOS)])
    if twilio:
        insert("twilio_studio.flows", [(*f, ACCOUNT[f[0]]) for f in TWILIO_FLOWS])
        insert("twilio_studio.executions", [(s, f, st, t, f"+1{n}", ACCOUNT[f])
                                            for n, (s, f, st, t) in enumerate(EXECUTIONS)])
        flow_of = {s: f for s, f, _, _ in EXECUTIONS}
        insert("twilio_studio.execution_steps",
               [(sid, e, flow_of[e], ev, frm, to, at, ACCOUNT[flow_of[e]])
                for sid, e, ev, frm, to, at in STEPS])


@pytest.fixture
def duck() -> Iterator[Warehouse]:
    wh = connect("duckdb", ":memory:")
    # a session far from UTC: days must still be UTC dates
    wh.execute("set timezone = 'America/Mexico_City'")
    yield wh
    wh.close()


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[Warehouse]:
    with fresh_database("flowsync_tf") as db:
        wh = connect("postgres", database_dsn(db))
        wh.execute("set timezone = 'Asia/Tokyo'")
        try:
            yield wh
        finally:
            wh.close()


def table(wh: Warehouse, name: str, order: str) -> list[tuple]:
    return [tuple(utc(v) for v in r)
            for r in wh.rows(f"select * from analytics.{name} order by {order}")]


def all_tables(wh: Warehouse) -> dict[str, list[tuple]]:
    return {
        "flow_runs": table(wh, "flow_runs", "provider, run_id"),
        "completion_rate": table(wh, "completion_rate", "provider, flow_id, day"),
        "status_funnel": table(wh, "status_funnel", "provider, flow_id, stage_order"),
        "status_counts": table(wh, "status_counts", "provider, flow_id, status"),
        "step_funnel": table(wh, "step_funnel", "flow_id, widget"),
    }


RUNS = [
    ("hilos", "h1", "hA", "Welcome", "hA-v1", "+520", "pending", "READY", False, T("2026-11-01 10:00:00+00"), None, None),
    ("hilos", "h2", "hA", "Welcome", "hA-v1", "+521", "running", "RUNNING", False, T("2026-11-01 11:00:00+00"), None, None),
    ("hilos", "h3", "hA", "Welcome", "hA-v1", "+522", "completed", "COMPLETED", False, T("2026-11-01 23:59:00+00"), None, None),
    ("hilos", "h4", "hA", "Welcome", "hA-v1", "+523", "completed", "COMPLETED", False, T("2026-11-02 00:01:00+00"), None, None),
    ("hilos", "h5", "hA", "Welcome", "hA-v1", "+524", "canceled", "CANCELED", False, T("2026-11-01 12:00:00+00"), None, None),
    ("hilos", "h6", "hA", "Welcome", "hA-v1", "+525", "expired", "EXPIRED", False, T("2026-11-01 13:00:00+00"), None, None),
    ("hilos", "h7", "hA", "Welcome", "hA-v1", "+526", "failed", "FAILED", False, T("2026-11-01 14:00:00+00"), None, None),
    ("hilos", "h8", "hA", "Welcome", "hA-v1", "+527", "completed", "COMPLETED", True, T("2026-11-01 15:00:00+00"), None, None),
    ("hilos", "h9", "hB", "Promo", "hB-v1", "+528", "pending", "READY", False, T("2026-11-03 09:00:00+00"), None, None),
    ("twilio_studio", "t1", "FW1", "Support", None, "+10", "completed", "ended", False, T("2026-11-01 10:00:00+00"), T("2026-11-01 10:02:00+00"), 120),
    ("twilio_studio", "t2", "FW1", "Support", None, "+11", "expired", "ended", False, T("2026-11-01 11:00:00+00"), T("2026-11-01 12:00:00+00"), 3600),
    ("twilio_studio", "t3", "FW1", "Support", None, "+12", "failed", "ended", False, T("2026-11-01 12:00:00+00"), T("2026-11-01 12:00:30+00"), 30),
    ("twilio_studio", "t4", "FW1", "Support", None, "+13", "completed", "ended", False, T("2026-11-01 12:30:00+00"), None, None),
    ("twilio_studio", "t5", "FW1", "Support", None, "+14", "running", "active", False, T("2026-11-01 13:00:00+00"), None, None),
    ("twilio_studio", "t6", "FW2", "Survey", None, "+15", "completed", "ended", False, T("2026-11-01 09:00:00+00"), T("2026-11-01 09:05:00+00"), 300),
    ("twilio_studio", "t7", "FW2", "Survey", None, "+16", "failed", "ended", False, T("2026-11-01 23:59:30+00"), T("2026-11-02 00:00:30+00"), 60),
    ("twilio_studio", "t8", "FW2", "Survey", None, "+17", "failed", "ended", False, T("2026-11-02 00:00:10+00"), T("2026-11-02 00:01:10+00"), 60),
]

# started_day: the date of started_at in analytics.timezone (UTC by default)
EXPECTED_FLOW_RUNS = with_account([(*r[:11], r[9].date(), r[11]) for r in RUNS], flow_at=2)

EXPECTED = {
    "flow_runs": EXPECTED_FLOW_RUNS,
    "completion_rate": with_account([
        # (..., runs_total, runs_finished, runs_completed, runs_open, completion_rate,
        #  avg_completion_seconds, median_completion_seconds)
        # h1 pending, h2 running, h3 completed, h5, h6, h7 on 11-01; h8 is a test run
        ("hilos", "hA", date(2026, 11, 1), "Welcome", 6, 4, 1, 2, 0.25, None, None),
        ("hilos", "hA", date(2026, 11, 2), "Welcome", 1, 1, 1, 0, 1.0, None, None),
        ("hilos", "hB", date(2026, 11, 3), "Promo", 1, 0, 0, 1, None, None, None),
        # t1 completed 120 s, t2 expired, t3 failed, t4 completed (no duration), t5 running
        ("twilio_studio", "FW1", date(2026, 11, 1), "Support", 5, 4, 2, 1, 0.5, 120.0, 120.0),
        # t6 completed 300 s, t7 failed (started before midnight)
        ("twilio_studio", "FW2", date(2026, 11, 1), "Survey", 2, 2, 1, 0, 0.5, 300.0, 300.0),
        ("twilio_studio", "FW2", date(2026, 11, 2), "Survey", 1, 1, 0, 0, 0.0, None, None),
    ]),
    "status_funnel": with_account([
        ("hilos", "hA", "Welcome", 1, "entered", 7, 1.0, 1.0),
        ("hilos", "hA", "Welcome", 2, "started", 6, 6 / 7, 6 / 7),
        ("hilos", "hA", "Welcome", 3, "completed", 2, 2 / 7, 2 / 6),
        ("hilos", "hB", "Promo", 1, "entered", 1, 1.0, 1.0),
        ("hilos", "hB", "Promo", 2, "started", 0, 0.0, 0.0),
        ("hilos", "hB", "Promo", 3, "completed", 0, 0.0, None),
        ("twilio_studio", "FW1", "Support", 1, "entered", 5, 1.0, 1.0),
        ("twilio_studio", "FW1", "Support", 2, "started", 5, 1.0, 1.0),
        ("twilio_studio", "FW1", "Support", 3, "completed", 2, 0.4, 0.4),
        ("twilio_studio", "FW2", "Survey", 1, "entered", 3, 1.0, 1.0),
        ("twilio_studio", "FW2", "Survey", 2, "started", 3, 1.0, 1.0),
        ("twilio_studio", "FW2", "Survey", 3, "completed", 1, 1 / 3, 1 / 3),
    ]),
    "status_counts": with_account([
        ("hilos", "hA", "canceled", "Welcome", 1, 1 / 7),
        ("hilos", "hA", "completed", "Welcome", 2, 2 / 7),
        ("hilos", "hA", "expired", "Welcome", 1, 1 / 7),
        ("hilos", "hA", "failed", "Welcome", 1, 1 / 7),
        ("hilos", "hA", "pending", "Welcome", 1, 1 / 7),
        ("hilos", "hA", "running", "Welcome", 1, 1 / 7),
        ("hilos", "hB", "pending", "Promo", 1, 1.0),
        ("twilio_studio", "FW1", "completed", "Support", 2, 0.4),
        ("twilio_studio", "FW1", "expired", "Support", 1, 0.2),
        ("twilio_studio", "FW1", "failed", "Support", 1, 0.2),
        ("twilio_studio", "FW1", "running", "Support", 1, 0.2),
        ("twilio_studio", "FW2", "completed", "Survey", 1, 1 / 3),
        ("twilio_studio", "FW2", "failed", "Survey", 2, 2 / 3),
    ]),
    "step_funnel": with_account([
        # (flow, widget, name, reached, ended here: all, completed, failed, expired, pct,
        #  widget_type, widget_depth)
        # FW1 ended: t1, t2, t3, t4 (4, one without steps); t5 is active, not counted;
        # t2 timed out and t3 failed at ask, t1 completed leaving thanks
        ("FW1", "ask", "Support", 3, 2, 0, 1, 1, 0.75, "send-and-wait-for-reply", 1),
        ("FW1", "thanks", "Support", 1, 1, 1, 0, 0, 0.25, "send-message", 2),
        # FW2 ended: t6, t7, t8; t6's last step (tie at 09:05 broken by sid) left menu,
        # completed (keypress); t7 and t8 failed there
        ("FW2", "agent", "Survey", 1, 0, 0, 0, 0, 1 / 3, "connect-call-to", 2),
        ("FW2", "billing", "Survey", 1, 0, 0, 0, 0, 1 / 3, "split-based-on", 2),
        ("FW2", "menu", "Survey", 3, 3, 1, 2, 0, 1.0, "gather-input-on-call", 1),
    ], flow_at=0, at=0),
}


def test_every_table_exact_on_duckdb(duck: Warehouse) -> None:
    load_fixtures(duck)
    build(duck)
    got = all_tables(duck)
    for name, rows in EXPECTED.items():
        assert got[name] == rows, name


@pytest.mark.postgres
def test_postgres_gives_the_same_rows_as_duckdb(duck: Warehouse, pg: Warehouse) -> None:
    for wh in (duck, pg):
        load_fixtures(wh)
        build(wh)
    assert all_tables(pg) == all_tables(duck) == EXPECTED


def test_event_lists_are_configurable(duck: Warehouse) -> None:
    load_fixtures(duck)
    # "fail" no longer fails; "sent" now does
    build(duck, {"timeout_events": ["timeout"],
                 "failure_events": ["failed", "deliveryFailure", "sent"]})
    statuses = dict(duck.rows("select run_id, status from analytics.flow_runs "
                              "where provider = 'twilio_studio'"))
    assert statuses == {"t1": "failed", "t2": "expired", "t3": "failed", "t4": "completed",
                        "t5": "running", "t6": "completed", "t7": "failed", "t8": "completed"}


def test_one_source_alone_builds_with_the_other_empty(duck: Warehouse) -> None:
    load_fixtures(duck, twilio=False)
    build(duck)
    got = all_tables(duck)
    assert got["flow_runs"] == [r for r in EXPECTED_FLOW_RUNS if r[0] == "hilos"]
    assert got["step_funnel"] == []
    assert got["completion_rate"] == [r for r in EXPECTED["completion_rate"] if r[0] == "hilos"]


def test_a_missing_raw_column_reads_as_null(duck: Warehouse) -> None:
    load_fixtures(duck)
    duck.execute("alter table hilos.flow_execution_contacts drop column contact__phone")
    build(duck)
    assert duck.rows("select count(*) from analytics.flow_runs where provider = 'hilos' "
                     "and contact_address is null") == [(9,)]


def test_a_failed_check_names_itself_and_keeps_the_old_table(duck: Warehouse) -> None:
    load_fixtures(duck)
    build(duck)
    before = table(duck, "completion_rate", "provider, flow_id, day")
    broken = Model("completion_rate", "marts",
                   "select 'hilos' as provider, 'default' as account, 'x' as flow_id, "
                   "date '2026-11-01' as day, "
                   "'X' as flow_name, 1 as runs_total, 1 as runs_finished, 2 as runs_completed, "
                   "2.0 as completion_rate, null as avg_completion_seconds")
    with pytest.raises(CheckFailedError) as err:
        build(duck, models=[broken])
    assert str(err.value) == (
        "data check failed: completion_rate: runs_completed <= runs_finished <= runs_total "
        "(1 rows break it, e.g. ('hilos', 'default', 'x', datetime.date(2026, 11, 1))); "
        "completion_rate: completion_rate in [0, 1] (1 rows break it, e.g. ('hilos', "
        "'default', 'x', datetime.date(2026, 11, 1))). "
        "the previous analytics tables are kept. The raw rows behind the rows named hold a "
        "shape flowsync does not handle yet: please report it (with the rows); to go on "
        "meanwhile, delete those raw rows and run `flowsync transform`")
    assert table(duck, "completion_rate", "provider, flow_id, day") == before
    assert duck.rows("select count(*) from information_schema.tables "
                     "where table_name like '%flowsync_new'") == [(0,)]


ODD_HILOS = [  # runs without a flow (the spec allows `flow` null) and a status it does not list
    ("n1", "COMPLETED", "2026-11-01 10:00:00+00", False, None, None),
    # the real API sends flow_name even when flow is null (issue 24)
    ("n2", "RUNNING", "2026-11-01 11:00:00+00", None, None, "Cart recovery"),
    ("n3", "PAUSED", "2026-11-01 12:00:00+00", False, "hA", "Welcome"),
]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_runs_without_a_flow_are_one_group_and_unknown_statuses_count_as_started(
        request: pytest.FixtureRequest, kind: str) -> None:
    wh = request.getfixturevalue("duck" if kind == "duckdb" else "pg")
    load_fixtures(wh)
    for i, status, at, test, flow, name in ODD_HILOS:
        values = ", ".join("null" if v is None else f"'{v}'" if isinstance(v, str)
                           else str(v).lower() for v in (i, status, at, test, flow, name))
        wh.execute("insert into hilos.flow_execution_contacts (id, status, created_on, "
                   f"is_test, flow, flow_name) values ({values})")
    build(wh)
    runs = wh.rows("select run_id, flow_id, flow_name, status, provider_status, is_test "
                   "from analytics.flow_runs where run_id in ('n1', 'n2', 'n3') order by run_id")
    assert runs == [("n1", None, None, "completed", "COMPLETED", False),
                    ("n2", None, "Cart recovery", "running", "RUNNING", False),  # is_test: false
                    ("n3", "hA", "Welcome", None, "PAUSED", False)]
    # the one group of runs without a flow has no name, whatever its runs carry
    assert wh.rows("select day, flow_name, runs_total, runs_finished, runs_completed, "
                   "completion_rate from analytics.completion_rate where flow_id is null") == [
        (date(2026, 11, 1), None, 2, 1, 1, 1.0)]
    assert wh.rows("select flow_name, runs from analytics.status_counts where flow_id is null "
                   "order by status") == [(None, 1), (None, 1)]
    assert wh.rows("select stage, runs, flow_name from analytics.status_funnel "
                   "where flow_id is null order by stage_order") == [
        ("entered", 2, None), ("started", 2, None), ("completed", 1, None)]
    # the unknown status: entered and started, never finished; listed under status null
    assert wh.rows("select stage, runs from analytics.status_funnel where provider = 'hilos' "
                   "and flow_id = 'hA' order by stage_order") == [
        ("entered", 8), ("started", 7), ("completed", 2)]
    assert wh.rows("select runs from analytics.status_counts where flow_id = 'hA' "
                   "and status is null") == [(1,)]
    # totals add up: every non-test Hilos run is in exactly one group
    assert wh.rows("select sum(runs_total) from analytics.completion_rate "
                   "where provider = 'hilos'") == [(11,)]


MARTS = ["completion_rate", "flow_runs", "status_counts", "status_funnel", "step_funnel",
         "sync_status"]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_views_and_grants_on_the_analytics_tables_survive_rebuilds(
        request: pytest.FixtureRequest, kind: str) -> None:
    wh = request.getfixturevalue("duck" if kind == "duckdb" else "pg")
    load_fixtures(wh)
    build(wh)
    assert sorted(r[0] for r in wh.rows("select table_name from information_schema.tables "
                                         "where table_schema = 'analytics'")) == MARTS
    wh.execute("create schema if not exists reports")
    for name in MARTS:
        wh.execute(f"create view reports.{name}_v as select * from analytics.{name}")
    if kind == "postgres":
        wh.execute("do $$ begin if not exists (select from pg_roles where rolname = "
                   "'flowsync_bi_reader') then create role flowsync_bi_reader; end if; end $$")
        for name in MARTS:
            wh.execute(f"grant select on analytics.{name} to flowsync_bi_reader")
    before = {name: sorted(wh.rows(f"select * from reports.{name}_v"), key=repr)
              for name in MARTS}
    for _ in range(3):
        build(wh)
    for name in MARTS:
        assert sorted(wh.rows(f"select * from reports.{name}_v"), key=repr) == before[name]
    if kind == "postgres":
        granted = wh.rows("select table_name from information_schema.role_table_grants "
                          "where grantee = 'flowsync_bi_reader' and privilege_type = 'SELECT' "
                          "order by table_name")
        assert [r[0] for r in granted] == MARTS
        for name in MARTS:
            wh.execute(f"revoke all on analytics.{name} from flowsync_bi_reader")
    # every table and column has the contract's meaning as its comment, for BI tools
    comment_sql = {
        "duckdb": ("select table_name, comment from duckdb_tables() where schema_name = "
                   "'analytics'", "select table_name, column_name, comment from "
                   "duckdb_columns() where schema_name = 'analytics'"),
        "postgres": ("select c.relname, obj_description(c.oid) from pg_class c join "
                     "pg_namespace n on n.oid = c.relnamespace where n.nspname = 'analytics' "
                     "and c.relkind = 'r'", "select c.relname, a.attname, col_description("
                     "c.oid, a.attnum) from pg_class c join pg_namespace n on n.oid = "
                     "c.relnamespace join pg_attribute a on a.attrelid = c.oid where "
                     "n.nspname = 'analytics' and c.relkind = 'r' and a.attnum > 0 and "
                     "not a.attisdropped"),
    }[kind]
    tables = dict(wh.rows(comment_sql[0]))
    assert sorted(tables) == MARTS and all(tables.values()), tables
    missing = [(t, c) for t, c, comment in wh.rows(comment_sql[1]) if not comment]
    assert missing == []
    assert dict(((t, c), m) for t, c, m in wh.rows(comment_sql[1]))[
        ("completion_rate", "completion_rate")] == (
        "runs_completed / runs_finished; null when nothing finished")
    # the staging and intermediate models live beside, not among, the analytics tables
    assert wh.rows("select count(*) from information_schema.tables where table_schema = "
                   "'analytics_internal' and table_name like 'stg_%'") == [(7,)]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_table_whose_columns_change_is_reshaped_in_place_under_views(
        request: pytest.FixtureRequest, kind: str) -> None:
    """Issue 22: a release whose model adds or drops a column used to drop and recreate the
    table, failing on Postgres under a view (and breaking it silently on DuckDB)."""
    wh = request.getfixturevalue("duck" if kind == "duckdb" else "pg")
    load_fixtures(wh)
    build(wh)
    expected = sorted(wh.rows("select * from analytics.completion_rate"), key=repr)
    model_columns = ", ".join(c for c, _ in wh.typed_columns("analytics", "completion_rate"))
    # as an older release left them: a column the model no longer makes, one it lacked
    for name in ("completion_rate", "status_counts"):
        wh.execute(f"alter table analytics.{name} add column retired text")
    wh.execute("alter table analytics.completion_rate drop column avg_completion_seconds")
    wh.execute("create schema if not exists reports")
    wh.execute("create view reports.rates as select provider, flow_id, day, retired, "
               "runs_total from analytics.completion_rate")
    build(wh)
    columns = [c for c, _ in wh.typed_columns("analytics", "completion_rate")]
    assert "avg_completion_seconds" in columns and "retired" in columns  # kept for the view
    assert "retired" not in [c for c, _ in wh.typed_columns("analytics", "status_counts")]
    assert sorted(wh.rows(f"select {model_columns} from analytics.completion_rate"),
                  key=repr) == expected
    assert wh.rows("select count(*), count(retired) from reports.rates") == [(len(expected), 0)]


def test_duplicate_keys_fail_the_key_check(duck: Warehouse) -> None:
    broken = Model("flow_runs", "marts",
                   "select 'hilos' as provider, 'default' as account, 'r1' as run_id, "
                   "'f' as flow_id, "
                   "current_timestamp as started_at from range(2)")
    with pytest.raises(CheckFailedError, match=r"flow_runs: \(provider, run_id\) unique"):
        build(duck, models=[broken])


def test_models_are_layered_and_ordered_by_their_refs() -> None:
    names = [m.name for m in load_models()]
    assert names.index("stg_twilio_steps") < names.index("twilio_last_steps") \
        < names.index("flow_runs") < names.index("completion_rate")
    for model in load_models():
        assert model.sql.startswith("-- grain: "), model.name
        assert model.sql.rstrip().endswith("select * from final"), model.name


def test_the_readme_examples_run(duck: Warehouse) -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("## The analytics tables"):text.index("## Running it")]
    queries = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(queries) == 10  # one per table, and the five everyday questions
    load_fixtures(duck)
    build(duck)
    for query in queries:
        duck.rows(query)
    # the step funnel example names a flow of the demo; here, check it on a fixture flow
    funnel = next(q for q in queries if "Support triage" in q)
    assert duck.rows(funnel.replace("Support triage", "Support")) == [
        ("ask", 3, 2, 0.75), ("thanks", 1, 1, 0.25)]
    drop_offs = next(q for q in queries if "where executions drop off" in q)
    assert duck.rows(drop_offs) == [
        ("Support", "ask", 3, 2, 0), ("Support", "thanks", 1, 0, 1),
        ("Survey", "menu", 3, 2, 1), ("Survey", "agent", 1, 0, 0), ("Survey", "billing", 1, 0, 0)]


# completion_rate with days cut in a zone west of UTC and one east of it, by hand from the
# fixture runs (UTC times above): h3 (23:59) and h4 (00:01) straddle UTC midnight, t7
# (23:59:30) and t8 (00:00:10) too; Mexico City is UTC-6 (no DST since 2022), Kolkata
# UTC+5:30
BY_ZONE = {
    "America/Mexico_City": [
        # h1-h7 all fall on 11-01 local (h3 17:59, h4 18:01)
        ("hilos", "hA", date(2026, 11, 1), "Welcome", 7, 5, 2, 2, 0.4, None, None),
        ("hilos", "hB", date(2026, 11, 3), "Promo", 1, 0, 0, 1, None, None, None),
        ("twilio_studio", "FW1", date(2026, 11, 1), "Support", 5, 4, 2, 1, 0.5, 120.0, 120.0),
        # t6 03:00, t7 17:59:30, t8 18:00:10: one local day
        ("twilio_studio", "FW2", date(2026, 11, 1), "Survey", 3, 3, 1, 0, 1 / 3, 300.0, 300.0),
    ],
    "Asia/Kolkata": [
        # h1, h2, h5, h6, h7 on 11-01 local; h3 05:29 and h4 05:31 on 11-02
        ("hilos", "hA", date(2026, 11, 1), "Welcome", 5, 3, 0, 2, 0.0, None, None),
        ("hilos", "hA", date(2026, 11, 2), "Welcome", 2, 2, 2, 0, 1.0, None, None),
        ("hilos", "hB", date(2026, 11, 3), "Promo", 1, 0, 0, 1, None, None, None),
        ("twilio_studio", "FW1", date(2026, 11, 1), "Support", 5, 4, 2, 1, 0.5, 120.0, 120.0),
        # t6 14:30 on 11-01; t7 05:29:30 and t8 05:30:10 on 11-02
        ("twilio_studio", "FW2", date(2026, 11, 1), "Survey", 1, 1, 1, 0, 1.0, 300.0, 300.0),
        ("twilio_studio", "FW2", date(2026, 11, 2), "Survey", 2, 2, 0, 0, 0.0, None, None),
    ],
}


@pytest.mark.parametrize("zone", list(BY_ZONE))
@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_days_are_cut_in_the_configured_time_zone(request: pytest.FixtureRequest, kind: str,
                                                  zone: str) -> None:
    """Issue 24: days were UTC days only; a Mexico City team counting runs per local day
    got other numbers than completion_rate."""
    wh = request.getfixturevalue("duck" if kind == "duckdb" else "pg")
    load_fixtures(wh)
    build(wh, {"timezone": zone})
    assert table(wh, "completion_rate", "provider, flow_id, day") == with_account(BY_ZONE[zone])
    local = {r[2]: r[12] for r in table(wh, "flow_runs", "provider, run_id")}
    offset = {"America/Mexico_City": -6, "Asia/Kolkata": 5.5}[zone]
    assert local == {r[1]: (r[9] + timedelta(hours=offset)).date() for r in RUNS}


def test_every_table_has_exactly_its_contract_s_columns_in_order(duck: Warehouse) -> None:
    from transforms.contracts import contracts

    load_fixtures(duck)
    build(duck)
    for name, contract in contracts().items():
        built = [c for c, _ in duck.typed_columns("analytics", name)]
        assert built == list(contract.columns), name
