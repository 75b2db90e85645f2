"""The Twilio Studio source end to end: simulator over loopback -> dlt -> DuckDB (and Postgres)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import dlt
import duckdb
import httpx
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from simulator import Simulator
from sources.twilio_studio import make_http, twilio_studio_source
from tests.expected import TWILIO_SECRET as SECRET
from tests.expected import ended_sids, execution_truth, step_truth, visible_floor
from tests.openapi import validate_request
from tests.running import TwilioRunner, drop_schemas
from tests.worlds import small_config


@pytest.fixture
def tsim() -> Iterator[Simulator]:
    with Simulator(small_config(twilio_auth_token=SECRET, twilio_executions=1500)) as s:
        yield s


ROUNDS = [(6 * 3600, 80, 0.0), (86_400, 150, 0.3), (3 * 86_400, 60, 0.0)]


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_first_load_equals_the_simulator(tsim: Simulator, tmp_path: Path, version: str) -> None:
    runner = TwilioRunner(tsim, tmp_path, api_version=version)
    since = visible_floor(tsim)
    runner.run()
    assert runner.executions() == execution_truth(tsim, since, version)
    assert runner.steps() == step_truth(tsim, since)
    assert runner.rows("flows", "sid, friendly_name, status", key="sid") == sorted(
        (f.sid, f.friendly_name, f.status) for f in tsim.world.twilio_flows)
    stats = tsim.stats()["requests"]
    assert stats["twilio.flows.list"] == 1
    # one 1000-row page per flow (each flow holds fewer than 1000 executions)
    assert stats["twilio.executions.list"] == 3
    # steps: exactly one request per ended execution
    assert stats["twilio.steps.list"] == len(ended_sids(tsim, since))
    if version == "v1":
        with runner.pipeline.sql_client() as c:
            assert c.execute_sql("select count(*) from executions where contact_sid is null") == [(0,)]


def test_pages_of_several_flows_reach_dlt_as_one_table(tsim: Simulator, tmp_path: Path) -> None:
    """dlt works out a table's schema for every table it is handed: the executions of
    three flows (a page each) come as one table, their steps as another, not one per page."""
    # a pipeline of its own: the resource reads its (empty) state, not an earlier test's
    dlt.pipeline(pipeline_name=f"batches_{uuid.uuid4().hex[:8]}", pipelines_dir=str(tmp_path))
    cfg = tsim.world.config
    http = make_http(base_url=tsim.base_url, account_sid=cfg.twilio_account_sid,
                     auth_token=cfg.twilio_auth_token)
    resource = twilio_studio_source(http=http).resources["executions"]
    tables = [(sorted(t.column_names), t.num_rows) for t in resource]
    since = visible_floor(tsim)
    assert [rows for _, rows in tables] == [len(execution_truth(tsim, since)),
                                            len(step_truth(tsim, since))]
    assert "execution_sid" not in tables[0][0] and "execution_sid" in tables[1][0]


def test_three_rounds_keep_each_execution_once_and_fetch_steps_once(
        tsim: Simulator, tmp_path: Path) -> None:
    runner = TwilioRunner(tsim, tmp_path)
    since = visible_floor(tsim)
    runner.run()
    for seconds, new, finish in ROUNDS:
        ended_before = ended_sids(tsim, since)
        tsim.advance(seconds, new_twilio=new, new_hilos=0, finish_fraction=finish)
        requests = runner.run()
        assert runner.executions() == execution_truth(tsim, since)
        assert runner.steps() == step_truth(tsim, since)
        stats = tsim.stats()["requests"]
        newly_ended = ended_sids(tsim, since) - ended_before
        assert newly_ended
        assert stats["twilio.steps.list"] == len(newly_ended)
        # per flow: one list page (re-listing from the oldest active fits in 1000 rows),
        # no fetch by sid here; plus the flows list
        assert stats["twilio.executions.list"] == 3
        assert stats.get("twilio.executions.fetch", 0) == 0
        assert requests == 1 + 3 + len(newly_ended)
    # nothing new: the flows list and one page per flow
    assert runner.run() == 4


def test_concurrency_does_not_change_the_result(tsim: Simulator, tmp_path: Path) -> None:
    results = []
    for workers in (1, 8):
        with Simulator(small_config(twilio_auth_token=SECRET, twilio_executions=1500,
                                    twilio_flows=6)) as sim:
            runner = TwilioRunner(sim, tmp_path / str(workers), max_workers=workers)
            runner.run()
            sim.advance(86_400, new_twilio=100, new_hilos=0)
            runner.run()
            results.append((runner.executions(), runner.steps()))
    assert results[0] == results[1]


def test_faults_change_nothing_in_the_result(tmp_path: Path) -> None:
    faults = {"429": 0.08, "500": 0.04, "502": 0.03, "503": 0.03, "drop": 0.04, "truncate": 0.04}
    runners = []
    for name, with_faults in (("clean", False), ("faulty", True)):
        sim = Simulator(small_config(twilio_auth_token=SECRET, twilio_executions=1500)).start()
        if with_faults:
            sim.faults.configure(rates=faults, retry_after=0)
        # enough attempts that a run of failures never outlasts them at these rates
        runner = TwilioRunner(sim, tmp_path / name, max_workers=4, max_attempts=12)
        runner.run()
        for seconds, new, finish in ROUNDS:
            sim.advance(seconds, new_twilio=new, new_hilos=0, finish_fraction=finish)
            runner.run()
        runners.append(runner)
    clean, faulty = runners
    try:
        assert faulty.faults_injected > 20
        assert faulty.executions() == clean.executions()
        assert faulty.steps() == clean.steps()
    finally:
        for r in runners:
            r.sim.stop()


def test_every_request_is_valid_under_the_official_spec(tsim: Simulator, tmp_path: Path) -> None:
    for version in ("v2", "v1"):
        runner = TwilioRunner(tsim, tmp_path / version, api_version=version)
        runner.run()
        tsim.advance(86_400, new_twilio=50, new_hilos=0)
        runner.run()
        kinds = set()
        for request in runner.transport.requests:
            validate_request(request)
            kinds.add(request.url.path.split("/")[-1])
        assert {"Flows", "Executions", "Steps"} <= kinds


def test_fetch_by_sid_when_it_is_cheaper(tmp_path: Path) -> None:
    with Simulator(small_config(twilio_auth_token=SECRET, twilio_flows=1,
                                twilio_executions=4000)) as sim:
        flow = sim.world.twilio_flows[0]
        now = sim.world.now
        retained = sim.world.twilio_retained(flow)
        # one execution active since 29 days ago, every other one ended: re-listing from it
        # would take 4 pages, fetching it by sid one request
        old = retained[50]
        for e in retained:
            e.duration = (now - e.date_created + 10 * 86_400 if e is old
                          else min(e.duration, now - e.date_created))
        sim.world.version += 1
        runner = TwilioRunner(sim, tmp_path)
        since = visible_floor(sim)
        runner.run()
        sim.advance(60, new_twilio=5, new_hilos=0)
        runner.run()
        stats = sim.stats()["requests"]
        assert stats["twilio.executions.fetch"] == 1
        assert stats["twilio.executions.list"] == 1
        assert runner.executions() == execution_truth(sim, since)


def test_failed_steps_are_fetched_next_sync_and_the_rest_is_loaded(
        tsim: Simulator, tmp_path: Path) -> None:
    runner = TwilioRunner(tsim, tmp_path)
    since = visible_floor(tsim)
    flow = tsim.world.twilio_flows[0]
    victim = next(e for e in tsim.world.twilio_retained(flow) if e.ended_at <= tsim.world.now)
    tsim.faults.configure(queue=[{"kind": "503", "path_contains": f"{victim.sid}/Steps"}] * 6,
                          retry_after=0)
    runner.run()
    state = runner.pipeline.state["sources"]["twilio_studio"]["resources"]["executions"]
    assert state["steps_pending"] == [[flow.sid, victim.sid]]
    assert state["failures"] == ["steps of 1 execution(s) not fetched"]
    assert runner.executions() == execution_truth(tsim, since)
    assert victim.sid not in {s[1] for s in runner.steps()}
    runner.run()
    assert tsim.stats()["requests"]["twilio.steps.list"] == 1
    assert runner.steps() == step_truth(tsim, since)
    state = runner.pipeline.state["sources"]["twilio_studio"]["resources"]["executions"]
    assert state["steps_pending"] == [] and state["failures"] == []


def test_a_flow_that_fails_keeps_its_cursor_and_catches_up(tsim: Simulator, tmp_path: Path) -> None:
    runner = TwilioRunner(tsim, tmp_path)
    since = visible_floor(tsim)
    runner.run()
    failing = tsim.world.twilio_flows[2].sid
    cursor_before = runner.pipeline.state["sources"]["twilio_studio"]["resources"][
        "executions"]["flows"][failing]
    tsim.advance(86_400, new_twilio=120, new_hilos=0)
    tsim.faults.configure(queue=[{"kind": "500", "path_contains": f"{failing}/Executions"}] * 6,
                          retry_after=0)
    runner.run()
    state = runner.pipeline.state["sources"]["twilio_studio"]["resources"]["executions"]
    assert state["flows"][failing] == cursor_before
    assert len(state["failures"]) == 1 and state["failures"][0].startswith(f"flow {failing}: ")
    others = [r for r in execution_truth(tsim, since) if r[1] != failing]
    assert [r for r in runner.executions() if r[1] != failing] == others
    runner.run()
    assert runner.executions() == execution_truth(tsim, since)
    assert runner.steps() == step_truth(tsim, since)


def test_a_deleted_flow_is_skipped_not_fatal(tsim: Simulator, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    gone = tsim.world.twilio_flows[1].sid
    runner = TwilioRunner(tsim, tmp_path, flow_sids=[f.sid for f in tsim.world.twilio_flows])
    runner.run()
    tsim.world.delete_twilio_flow(gone)
    with caplog.at_level(logging.WARNING, logger="flowsync"):
        runner.run()
    assert f"Twilio Studio flow {gone} not found (deleted?); skipped" in caplog.text
    state = runner.pipeline.state["sources"]["twilio_studio"]["resources"]["executions"]["flows"]
    assert gone not in state and len(state) == 2


@pytest.mark.parametrize("api_key", [False, True])
def test_wrong_credentials_fail_clearly_without_the_secret(
        tsim: Simulator, tmp_path: Path, api_key: bool) -> None:
    runner = TwilioRunner(tsim, tmp_path, api_key=api_key)
    wrong = "wrong-secret-98765"
    key = "api_key_secret" if api_key else "auth_token"
    runner.credentials[key] = wrong
    with pytest.raises(PipelineStepFailed) as err:
        runner.run()
    message = str(err.value)
    assert "Twilio Studio rejected the credentials (HTTP 401)" in message
    assert ("api_key_sid / api_key_secret" if api_key else "account_sid / auth_token") in message
    assert wrong not in message


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="api_version must be v1 or v2"):
        twilio_studio_source(account_sid="AC1", auth_token="t", api_version="v3")
    with pytest.raises(ValueError, match=r"flow_sids must be a list of flow SIDs \(FW \+ 32 hex\)"):
        twilio_studio_source(account_sid="AC1", auth_token="t", flow_sids=["FW123"])


@pytest.mark.postgres
def test_rounds_on_postgres(tsim: Simulator, tmp_path: Path, postgres_dsn: str) -> None:
    dataset = f"twilio_{uuid.uuid4().hex[:8]}"
    runner = TwilioRunner(tsim, tmp_path, destination=dlt.destinations.postgres(postgres_dsn),
                          dataset=dataset)
    since = visible_floor(tsim)
    try:
        runner.run()
        for seconds, new, finish in ROUNDS:
            tsim.advance(seconds, new_twilio=new, new_hilos=0, finish_fraction=finish)
            runner.run()
            assert runner.executions() == execution_truth(tsim, since)
            assert runner.steps() == step_truth(tsim, since)
    finally:
        drop_schemas(postgres_dsn, dataset)


@pytest.mark.parametrize("with_key", [False, True], ids=["auth-token", "api-key-only"])
def test_configuration_comes_from_the_contract_keys(
        tsim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_key: bool) -> None:
    cfg = tsim.world.config
    monkeypatch.setenv("SOURCES__TWILIO_STUDIO__BASE_URL", tsim.base_url)
    monkeypatch.setenv("SOURCES__TWILIO_STUDIO__API_VERSION", "v1")
    monkeypatch.setenv("SOURCES__TWILIO_STUDIO__FLOW_SIDS", f'["{tsim.world.twilio_flows[0].sid}"]')
    if with_key:
        monkeypatch.setenv("SOURCES__TWILIO_STUDIO__API_KEY_SID", cfg.twilio_api_key_sid)
        monkeypatch.setenv("SOURCES__TWILIO_STUDIO__API_KEY_SECRET", cfg.twilio_api_key_secret)
    else:
        monkeypatch.setenv("SOURCES__TWILIO_STUDIO__ACCOUNT_SID", cfg.twilio_account_sid)
        monkeypatch.setenv("SOURCES__TWILIO_STUDIO__AUTH_TOKEN", cfg.twilio_auth_token)
    pipeline = dlt.pipeline(pipeline_name="tw_env", pipelines_dir=str(tmp_path / "p"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="twilio_studio")
    pipeline.run(twilio_studio_source())
    stats = tsim.stats()["requests"]
    assert stats["twilio.flows.fetch"] == 1 and "twilio.flows.list" not in stats
    with pipeline.sql_client() as c:
        assert c.execute_sql("select distinct flow_sid from executions") == [
            (tsim.world.twilio_flows[0].sid,)]
        assert c.execute_sql("select count(*) from executions where contact_sid is null") == [(0,)]


def test_odd_records_on_a_middle_page_of_several_flows_are_quarantined_and_never_block(
        tmp_path: Path) -> None:
    flows = [f"FW{i:032x}" for i in (1, 2)]

    def ex(flow: str, n: int, **odd) -> dict:
        return {"sid": f"FN{flow[-4:]}{n:028x}", "flow_sid": flow, "status": "ended",
                "date_created": f"2026-11-01T1{n}:00:00Z", "context": {}, **odd}

    pages = {  # flow -> pages, newest first; the odd records sit on middle pages
        flows[0]: [[ex(flows[0], 5)], [ex(flows[0], 4), ex(flows[0], 3, sid=None)],
                   [ex(flows[0], 2)]],
        flows[1]: [[ex(flows[1], 5)], [ex(flows[1], 4, date_created="soon"), ex(flows[1], 3)],
                   [ex(flows[1], 1)]],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/Flows":
            return httpx.Response(200, json={"flows": [{"sid": f, "date_created":
                                                        "2026-10-01T00:00:00Z"} for f in flows],
                                             "meta": {"next_page_url": None}})
        if path.endswith("/Steps"):
            return httpx.Response(200, json={"steps": [], "meta": {"next_page_url": None}})
        flow = path.split("/")[3]
        if path == f"/v2/Flows/{flow}":  # a flow fetched whole, for its definition
            return httpx.Response(200, json={"sid": flow, "date_created": "2026-10-01T00:00:00Z",
                                             "definition": {"states": []}})
        page = int(request.url.params.get("Page", 0))
        nxt = (f"https://studio.twilio.com{path}?Page={page + 1}"
               if page + 1 < len(pages[flow]) else None)
        return httpx.Response(200, json={"executions": pages[flow][page],
                                         "meta": {"next_page_url": nxt}})

    pipeline = dlt.pipeline(pipeline_name="twilio_odd", pipelines_dir=str(tmp_path / "p"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="twilio_studio")
    for _ in range(2):  # a quarantined record never blocks a later run
        http = make_http(account_sid="AC1", auth_token="t", base_url="https://studio.twilio.com",
                         transport=httpx.MockTransport(handler), sleep=lambda s: None)
        pipeline.run(twilio_studio_source(http=http, max_workers=2),
                     loader_file_format="parquet").raise_on_failed_jobs()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        loaded = [r[0] for r in con.execute(
            "select sid from twilio_studio.executions order by sid").fetchall()]
        odd = con.execute("select resource, reason from twilio_studio.quarantine "
                          "order by reason").fetchall()
    good = sorted(e["sid"] for f in flows for page in pages[f] for e in page
                  if e["sid"] and e["date_created"] != "soon")
    assert loaded == good
    assert odd == [("executions", "invalid date_created"), ("executions", "missing sid")]
