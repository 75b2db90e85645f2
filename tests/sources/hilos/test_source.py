"""The Hilos source end to end: simulator over loopback -> dlt -> DuckDB (and Postgres)."""

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
from sources.hilos import hilos_source, make_http
from sources.hilos.settings import EXECUTION_FINAL
from tests.expected import CONTACT_COLUMNS, HILOS_EXECUTION_COLUMNS, HILOS_TOKEN, contact_truth, ts
from tests.expected import hilos_execution_truth as execution_truth
from tests.running import HilosRunner, drop_schemas
from tests.worlds import small_config


@pytest.fixture
def hsim() -> Iterator[Simulator]:
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN)) as s:
        yield s


def assert_matches_truth(runner: HilosRunner) -> None:
    contacts = runner.rows("flow_execution_contacts", CONTACT_COLUMNS)
    assert contacts == contact_truth(runner.sim)
    executions = runner.rows("flow_executions", HILOS_EXECUTION_COLUMNS)
    assert executions == execution_truth(runner.sim)


ROUNDS = [  # (seconds, new contact runs, extra share of open runs to finish)
    (6 * 3600, 60, 0.0),
    (86_400, 100, 0.3),
    (3 * 86_400, 40, 0.0),
]


def open_batches(sim: Simulator) -> int:
    now = sim.world.now_us
    return sum(1 for b in sim.world.hilos_batches if b.status(now) not in EXECUTION_FINAL)


def test_first_load_equals_the_simulator(hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    requests = runner.run()
    assert_matches_truth(runner)
    # 800 contact runs in one 1000-row page, 18 flow executions in one 20-row page
    assert len(hsim.world.hilos_runs) == 800 and len(hsim.world.hilos_batches) == 18
    assert hsim.stats()["requests"] == {"hilos.flow_execution_contacts.list": 1,
                                        "hilos.flow_executions.list": 1}
    assert requests == 2


def test_pages_reach_dlt_in_batches_not_one_by_one(hsim: Simulator, tmp_path: Path) -> None:
    """dlt works out a table's schema for every table it is handed: 800 contact runs in
    pages of 100 come as one table, not eight."""
    # a pipeline of its own: the resource reads its (empty) state, not an earlier test's
    dlt.pipeline(pipeline_name=f"batches_{uuid.uuid4().hex[:8]}", pipelines_dir=str(tmp_path))
    http = make_http(HILOS_TOKEN, hsim.base_url)
    resource = hilos_source(api_token=HILOS_TOKEN, base_url=hsim.base_url, http=http,
                            page_size=100).resources["flow_execution_contacts"]
    assert [t.num_rows for t in resource] == [len(contact_truth(hsim))]


def test_three_incremental_rounds_keep_every_record_once_at_its_latest_state(
        hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    runner.run()
    for seconds, new_runs, finish in ROUNDS:
        was_open = open_batches(hsim)
        statuses_before = dict((r[0], r[1]) for r in runner.rows("flow_execution_contacts", "id, status"))
        hsim.advance(seconds, new_twilio=0, new_hilos=new_runs, finish_fraction=finish)
        requests = runner.run()
        assert_matches_truth(runner)
        changed = sum(1 for r in contact_truth(hsim) if r[0] in statuses_before
                      and statuses_before[r[0]] != r[1])
        assert changed > 0
        stats = hsim.stats()["requests"]
        # contacts: the re-read window fits in one 1000-row page
        assert stats["hilos.flow_execution_contacts.list"] == 1
        # executions: never more than reading the whole list (20 a page), and at most one
        # detail per execution open at the last sync
        list_pages = -(-len(hsim.world.hilos_batches) // 20)
        fetches = stats.get("hilos.flow_executions.fetch", 0)
        assert stats["hilos.flow_executions.list"] + fetches <= list_pages
        assert fetches <= was_open
        assert requests <= 1 + list_pages


def test_a_sync_that_finds_nothing_new_costs_two_requests(hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    runner.run()
    hsim.advance(20 * 86_400, new_twilio=0, new_hilos=0)  # everything has finished
    runner.run()
    assert runner.run() == 2
    assert_matches_truth(runner)


def test_small_pages_stop_at_the_window_not_at_the_end(tmp_path: Path) -> None:
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN, hilos_contact_runs=3000)) as sim:
        runner = HilosRunner(sim, tmp_path, page_size=100)
        runner.run()
        assert sim.stats()["requests"]["hilos.flow_execution_contacts.list"] == 30
        sim.advance(3600, new_twilio=0, new_hilos=50)
        runner.run()
        reads = sim.stats()["requests"]["hilos.flow_execution_contacts.list"]
        assert reads < 30
        assert_matches_truth(runner)


class ArrivalsWhilePaging(httpx.BaseTransport):
    """Real HTTP to the simulator; after the first contact page, runs arrive on top."""

    def __init__(self, sim: Simulator, new_runs: int) -> None:
        self.sim = sim
        self.new_runs = new_runs
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.new_runs and request.url.path.endswith("flow-execution-contact"):
            response.read()
            self.sim.advance(60, new_twilio=0, new_hilos=self.new_runs)
            self.new_runs = 0
        return response


def test_runs_arriving_pages_ahead_while_paging_are_loaded_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN)) as sim:
        arrivals = ArrivalsWhilePaging(sim, new_runs=250)  # 2.5 pages of 100
        runner = HilosRunner(sim, tmp_path, page_size=100)
        runner.make_source = lambda: hilos_source(  # this test's own transport
            api_token=HILOS_TOKEN, base_url=sim.base_url, page_size=100,
            http=make_http(HILOS_TOKEN, sim.base_url, transport=arrivals))
        with caplog.at_level(logging.WARNING, logger="flowsync"):
            runner.run()
        ids = [r[0] for r in runner.rows("flow_execution_contacts", "id")]
        newest_first = [r.id for r in reversed(sim.world.hilos_runs)]
        assert len(sim.world.hilos_runs) == 1050
        # the 100 newest arrivals sit above page 1 now: the next sync's; the rest once each
        assert sorted(ids) == sorted(newest_first[100:])
        assert caplog.messages == []  # arrivals are not taken for an unordered API
        runner.run()
        assert_matches_truth(runner)
        assert sim.stats()["requests"]["hilos.flow_execution_contacts.list"] < 11


def test_faults_change_nothing_in_the_result(tmp_path: Path) -> None:
    faults = {"429": 0.08, "500": 0.04, "502": 0.03, "503": 0.03, "drop": 0.05, "truncate": 0.05}
    runners = []
    for name, with_faults in (("clean", False), ("faulty", True)):
        sim = Simulator(small_config(hilos_api_token=HILOS_TOKEN, hilos_contact_runs=3000,
                                     hilos_batch_size=20)).start()
        if with_faults:
            sim.faults.configure(rates=faults, retry_after=0)
        # enough attempts that a run of failures never outlasts them at these rates
        runner = HilosRunner(sim, tmp_path / name, page_size=200, max_attempts=12)
        runner.run()
        for seconds, new_runs, finish in ROUNDS:
            sim.advance(seconds, new_twilio=0, new_hilos=new_runs, finish_fraction=finish)
            runner.run()
        runners.append(runner)
    clean, faulty = runners
    try:
        assert faulty.faults_injected > 10
        for table, cols in (("flow_execution_contacts", CONTACT_COLUMNS),
                            ("flow_executions", HILOS_EXECUTION_COLUMNS)):
            assert faulty.rows(table, cols) == clean.rows(table, cols)
        assert_matches_truth(faulty)
    finally:
        for r in runners:
            r.sim.stop()


def test_unordered_api_is_read_in_full_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN, hilos_order="unordered",
                                hilos_contact_runs=1500)) as sim:
        runner = HilosRunner(sim, tmp_path, page_size=100)
        with caplog.at_level(logging.WARNING, logger="flowsync.hilos"):
            runner.run()
            sim.advance(3600, new_twilio=0, new_hilos=20, finish_fraction=0.5)
            runner.run()
        assert sim.stats()["requests"]["hilos.flow_execution_contacts.list"] == 16
        assert_matches_truth(runner)
    assert any("not newest-first" in r.message for r in caplog.records)


def test_wrong_token_fails_clearly_without_printing_it(hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    wrong = "tok-wrong-1234567"
    runner.token = wrong
    with pytest.raises(PipelineStepFailed) as err:
        runner.run()
    message = str(err.value)
    assert "Hilos rejected the credentials (HTTP 401)" in message
    assert "check sources.hilos.api_token (SOURCES__HILOS__API_TOKEN)" in message
    assert wrong not in message and wrong not in repr(err.value.__cause__)


def test_missing_token_is_a_configuration_error(hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    with pytest.raises(ValueError, match=r"set sources\.hilos\.api_token"):
        runner.pipeline.run(hilos_source(api_token="", base_url=hsim.base_url))


def test_initial_date_skips_older_runs(hsim: Simulator, tmp_path: Path) -> None:
    cutoff = "2026-10-25T00:00:00+00:00"
    runner = HilosRunner(hsim, tmp_path, initial_date=cutoff)
    runner.run()
    expected = [r for r in contact_truth(hsim) if r[2] >= ts(cutoff)]
    assert runner.rows("flow_execution_contacts", CONTACT_COLUMNS) == expected
    assert 0 < len(expected) < 800


@pytest.mark.postgres
def test_incremental_rounds_on_postgres(hsim: Simulator, tmp_path: Path, postgres_dsn: str) -> None:
    dataset = f"hilos_{uuid.uuid4().hex[:8]}"
    runner = HilosRunner(hsim, tmp_path, destination=dlt.destinations.postgres(postgres_dsn),
                         dataset=dataset)
    try:
        runner.run()
        assert_matches_truth(runner)
        for seconds, new_runs, finish in ROUNDS:
            hsim.advance(seconds, new_twilio=0, new_hilos=new_runs, finish_fraction=finish)
            runner.run()
            assert_matches_truth(runner)
    finally:
        drop_schemas(postgres_dsn, dataset)


def test_duckdb_file_is_plain_duckdb(hsim: Simulator, tmp_path: Path) -> None:
    runner = HilosRunner(hsim, tmp_path)
    runner.run()
    with duckdb.connect(str(runner.db), read_only=True) as con:
        n = con.execute("select count(*) from hilos.flow_execution_contacts").fetchone()[0]
    assert n == 800


def test_bad_records_are_quarantined_and_new_fields_evolve_the_schema(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    def contact(i: int, **extra) -> dict:
        return {"id": f"00000000-0000-4000-8000-{i:012d}", "status": "COMPLETED",
                "created_on": f"2026-11-01T{10 - i:02d}:00:00.000000Z", "is_test": False,
                "flow": "f", "flow_version": "v", "flow_name": "F", "status_reason": None,
                "contact": {"id": "c", "phone": "+1"}, **extra}

    contacts = [contact(1, channel="WHATSAPP"), contact(2, created_on="not a date"),
                contact(3, status="PAUSED"), contact(4)]

    def handler(request: httpx.Request) -> httpx.Response:
        results = contacts if "contact" in request.url.path else []
        return httpx.Response(200, json={"count": len(results), "next": None,
                                         "previous": None, "results": results})

    http = make_http(HILOS_TOKEN, "https://api.hilos.io", transport=httpx.MockTransport(handler))
    pipeline = dlt.pipeline(pipeline_name="hilos_bad", pipelines_dir=str(tmp_path / "p"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="hilos")
    with caplog.at_level(logging.WARNING, logger="flowsync"):
        pipeline.run(hilos_source(api_token=HILOS_TOKEN, http=http))
    with pipeline.sql_client() as c:
        loaded = c.execute_sql("select id, status, channel from flow_execution_contacts order by id")
        quarantined = c.execute_sql("select resource, record_key, reason from quarantine "
                                    "order by record_key")
    ids = [c["id"] for c in contacts]
    assert loaded == [(ids[0], "COMPLETED", "WHATSAPP"), (ids[2], "PAUSED", None),
                      (ids[3], "COMPLETED", None)]
    assert quarantined == [
        ("flow_execution_contacts", ids[1], "invalid created_on"),
        ("flow_execution_contacts", ids[2], "unknown status 'PAUSED' (row loaded)"),
    ]
    warnings = sorted(r.message for r in caplog.records
                      if r.levelno == logging.WARNING and r.name.startswith("flowsync"))
    assert warnings == [
        "Hilos flow_execution_contacts: 1 record(s) quarantined (invalid created_on); see table "
        "`quarantine`",
        "Hilos flow_execution_contacts: 1 record(s) quarantined (unknown status 'PAUSED' (row "
        "loaded)); see table `quarantine`",
    ]


def test_declared_columns_exist_with_their_types_even_when_always_null(
        hsim: Simulator, tmp_path: Path) -> None:
    # regression: one column dict shared by several columns was renamed in place by dlt,
    # so all but one of them vanished
    from sources.hilos.settings import CONTACT_COLUMNS as DECLARED_CONTACTS
    from sources.hilos.settings import EXECUTION_COLUMNS as DECLARED_EXECUTIONS

    runner = HilosRunner(hsim, tmp_path)
    runner.run()
    runner.run()
    with duckdb.connect(str(runner.db), read_only=True) as con:
        types = dict(con.execute(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'hilos'").fetchall())
    duck = {"text": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "bigint": "BIGINT",
            "bool": "BOOLEAN"}
    for table, declared in (("flow_execution_contacts", DECLARED_CONTACTS),
                            ("flow_executions", DECLARED_EXECUTIONS)):
        for name, hint in declared.items():
            assert types[f"{table}.{name}"] == duck[hint["data_type"]], name
    assert types["flow_execution_contacts.contact__external_url"] == "VARCHAR"


def _batch(i: int, status: str) -> dict:
    return {"id": f"00000000-0000-4000-9000-{i:012d}", "status": status,
            "created_on": f"2026-10-{1 + i // 24:02d}T{i % 24:02d}:00:00.000000Z",
            "execute_for": "LIST", "flow_version": "v", "num_contacts": 1,
            "created_by": {"id": 1, "email": "a@b.c"}}


@pytest.mark.parametrize("open_ids,expected", [
    # one old execution open at the bottom of 5 pages: its detail is cheaper than 4 pages
    ([0], ["list p1", "detail 0"]),
    # many open executions spread down the list: re-reading the pages is cheaper
    ([0, 10, 30, 50, 70, 90], ["list p1", "list p2", "list p3", "list p4", "list p5"]),
], ids=["detail", "list"])
def test_open_executions_are_refreshed_the_cheaper_way(
        tmp_path: Path, open_ids: list[int], expected: list[str]) -> None:
    import httpx

    batches = {i: _batch(i, "RUNNING" if i in open_ids else "COMPLETED") for i in range(100)}
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("flow-execution-contact"):
            return httpx.Response(200, json={"count": 0, "next": None, "previous": None,
                                             "results": []})
        if path.endswith("flow-execution"):
            page = int(request.url.params.get("page", 1))
            newest_first = [batches[i] for i in sorted(batches, reverse=True)]
            calls.append(f"list p{page}")
            return httpx.Response(200, json={
                "count": 100, "previous": None, "results": newest_first[(page - 1) * 20:page * 20],
                "next": "more" if page < 5 else None})
        i = int(path.rsplit("-", 1)[1])
        calls.append(f"detail {i}")
        return httpx.Response(200, json={**batches[i], "flow_version": {"id": "v"},
                                         "status_triggered_by": {"id": 1}, "flow": {"id": "f"}})

    pipeline = dlt.pipeline(pipeline_name="hilos_refresh", pipelines_dir=str(tmp_path / "p"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="hilos")
    http = make_http(HILOS_TOKEN, "https://api.hilos.io", transport=httpx.MockTransport(handler))
    pipeline.run(hilos_source(api_token=HILOS_TOKEN, http=http))
    assert calls == [f"list p{p}" for p in range(1, 6)]
    for i in open_ids:
        batches[i]["status"] = "COMPLETED"
    calls.clear()
    pipeline.run(hilos_source(api_token=HILOS_TOKEN, http=http))
    assert calls == expected
    with pipeline.sql_client() as c:
        assert c.execute_sql("select count(*) from flow_executions where status = 'RUNNING'") == [(0,)]
        assert c.execute_sql("select count(*) from flow_executions") == [(100,)]


def test_configuration_comes_from_the_contract_keys(
        hsim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HILOS__API_TOKEN", HILOS_TOKEN)
    monkeypatch.setenv("SOURCES__HILOS__BASE_URL", hsim.base_url)
    monkeypatch.setenv("SOURCES__HILOS__PAGE_SIZE", "300")
    pipeline = dlt.pipeline(pipeline_name="hilos_env", pipelines_dir=str(tmp_path / "p"),
                            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="hilos")
    pipeline.run(hilos_source())
    assert hsim.stats()["requests"]["hilos.flow_execution_contacts.list"] == 3  # 800 rows / 300
    with pipeline.sql_client() as c:
        assert c.execute_sql("select count(*) from flow_execution_contacts") == [(800,)]
