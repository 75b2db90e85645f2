"""Loads in checkpoints: a long sync pauses when its budget is spent, its rows and cursors
are committed, and the next load goes on from there, while runs arrive and change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from simulator import Simulator
from sources.checkpoint import Checkpoint
from sources.hilos import hilos_source
from sources.hilos import make_http as hilos_http
from sources.twilio_studio import make_http as twilio_http
from sources.twilio_studio import twilio_studio_source
from sources.twilio_studio.cursor import unpack_pending
from tests.expected import (
    CONTACT_COLUMNS,
    HILOS_EXECUTION_COLUMNS,
    HILOS_TOKEN,
    contact_truth,
    execution_truth,
    hilos_execution_truth,
    step_truth,
    visible_floor,
)
from tests.openapi import validate_request
from tests.running import HilosRunner, SourceRunner, TwilioRunner
from tests.worlds import small_config


class FakeHttp:
    request_count = 0


def test_a_checkpoint_is_due_after_its_seconds_or_requests_and_stays_due() -> None:
    now = [0.0]
    http = FakeHttp()
    cp = Checkpoint(seconds=60, requests=100, clock=lambda: now[0])
    cp.start(http)  # type: ignore[arg-type]
    assert not cp.due()
    http.request_count = 99
    assert not cp.due()
    http.request_count = 100
    assert cp.due() and cp.reached
    http.request_count = 0
    assert cp.due()  # once due, due until the next start
    cp.start(http)  # type: ignore[arg-type]
    assert not cp.due()
    now[0] = 60.0
    assert cp.due()


def test_what_a_run_finished_is_kept_for_its_later_loads_only() -> None:
    http = FakeHttp()
    cp = Checkpoint(seconds=1e9, requests=10)
    cp.start(http)  # type: ignore[arg-type]
    cp.finished.add("FW1")
    http.request_count = 10
    assert cp.due()
    cp.start(http)  # type: ignore[arg-type]  # the run's next load: FW1 is not read again
    assert cp.finished == {"FW1"}
    assert not cp.due()  # this load ends before its budget: the run's last
    cp.start(http)  # type: ignore[arg-type]  # a new run reads everything
    assert cp.finished == set()
    from sources.checkpoint import NEVER

    NEVER.finished.add("FW1")  # one load a run, shared by every run: keeps nothing
    assert NEVER.finished == set()


def load_in_checkpoints(runner: SourceRunner, checkpoint: Checkpoint,
                        between: Callable[[], None]) -> list[int]:
    """Runs loads until one finishes within its budget; `between` runs between loads.
    Returns each load's requests."""
    requests = []
    while True:
        requests.append(runner.run())
        if not checkpoint.reached:
            return requests
        assert len(requests) < 100, "the loads never finished"
        between()


def hilos_runner(sim: Simulator, tmp_path: Path, checkpoint: Checkpoint,
                 page_size: int) -> HilosRunner:
    """The Hilos source, each of its loads on `checkpoint`."""
    def make():
        http = hilos_http(HILOS_TOKEN, sim.base_url)
        checkpoint.start(http)
        return hilos_source(api_token=HILOS_TOKEN, base_url=sim.base_url, page_size=page_size,
                            http=http, checkpoint=checkpoint)

    runner = HilosRunner(sim, tmp_path)
    runner.make_source = make
    return runner


def twilio_runner(sim: Simulator, tmp_path: Path, checkpoint: Checkpoint) -> TwilioRunner:
    """The Twilio Studio source, each of its loads on `checkpoint`."""
    runner = TwilioRunner(sim, tmp_path)

    def make():
        http = twilio_http(base_url=sim.base_url, transport=runner.transport,
                           **runner.credentials)
        checkpoint.start(http)
        return twilio_studio_source(http=http, checkpoint=checkpoint)

    runner.make_source = make
    return runner


def test_hilos_first_load_in_checkpoints_keeps_every_run_once_as_runs_arrive_and_change(
        tmp_path: Path) -> None:
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN, hilos_contact_runs=2000,
                                hilos_batch_size=40)) as sim:
        checkpoint = Checkpoint(seconds=1e9, requests=5)
        runner = hilos_runner(sim, tmp_path, checkpoint, page_size=100)
        # runs arrive on top and open ones finish between loads
        requests = load_in_checkpoints(runner, checkpoint, lambda: sim.advance(
            900, new_twilio=0, new_hilos=45, finish_fraction=0.2))
        assert len(requests) >= 8
        # each load: what arrived on top (a page or two), then up to the budget and the one
        # page read after it became due, per list
        assert max(requests[1:]) <= 12
        ids = [r[0] for r in runner.rows("flow_execution_contacts", "id")]
        assert sorted(ids) == sorted({r[0] for r in contact_truth(sim)})  # all, once each
        # runs that changed during the first load are brought up to date by the next run
        load_in_checkpoints(runner, checkpoint, lambda: None)
        assert runner.rows("flow_execution_contacts", CONTACT_COLUMNS) == contact_truth(sim)
        assert runner.rows("flow_executions", HILOS_EXECUTION_COLUMNS) == \
            hilos_execution_truth(sim)


def test_twilio_first_load_in_checkpoints_fetches_every_step_once(tmp_path: Path) -> None:
    with Simulator(small_config(twilio_executions=900)) as sim:
        since = visible_floor(sim)
        checkpoint = Checkpoint(seconds=1e9, requests=150)
        runner = twilio_runner(sim, tmp_path, checkpoint)
        requests = load_in_checkpoints(runner, checkpoint, lambda: sim.advance(
            600, new_twilio=20, new_hilos=0, finish_fraction=0.2))
        assert len(requests) >= 4
        assert max(requests) <= 150 + 4 * 4 + 4  # the budget, requests in flight, flows
        steps = [r[0] for r in runner.steps()]
        assert len(steps) == len(set(steps))
        load_in_checkpoints(runner, checkpoint, lambda: None)
        assert runner.executions() == execution_truth(sim, since)
        assert runner.steps() == step_truth(sim, since)


def test_a_checkpoint_is_due_after_its_rows() -> None:
    http = FakeHttp()
    cp = Checkpoint(seconds=1e9, requests=10**9, rows=100)
    cp.start(http)  # type: ignore[arg-type]
    cp.count(60)
    assert not cp.due()
    cp.count(40)
    assert cp.due()
    cp.start(http)  # type: ignore[arg-type]  # each load has its own rows
    assert not cp.due()


def test_twilio_loads_in_row_budgets_and_steps_left_over_never_pile_up(tmp_path: Path) -> None:
    """Issue 27: a load holds about `rows` rows, so a first load's memory does not grow with
    the account. Steps a load left go first in the next; while they fill it, no flow is
    read, so the steps waiting never grow from load to load."""
    budget = 400
    with Simulator(small_config(twilio_executions=900, twilio_flows=12)) as sim:
        since = visible_floor(sim)
        checkpoint = Checkpoint(seconds=1e9, requests=10**9, rows=budget)
        runner = TwilioRunner(sim, tmp_path)

        def make():
            http = twilio_http(base_url=sim.base_url, transport=runner.transport,
                               **runner.credentials)
            checkpoint.start(http)
            return twilio_studio_source(http=http, checkpoint=checkpoint, max_workers=4)

        runner.make_source = make
        loads = []  # (rows loaded, executions listed, steps waiting after, before)
        waiting = 0
        while True:
            runner.run()
            counts = runner.pipeline.last_trace.last_normalize_info.row_counts
            state = runner.pipeline.state["sources"]["twilio_studio"]["resources"]
            listed = sum(n for op, n in sim.stats()["requests"].items()
                         if op.startswith("twilio.executions"))
            after = len(unpack_pending(state["executions"]["steps_pending"]))
            loads.append((counts.get("executions", 0) + counts.get("execution_steps", 0),
                          listed, after, waiting))
            waiting = after
            if not checkpoint.reached:
                break
            assert len(loads) < 100, "the loads never finished"
        assert len(loads) >= 5
        largest_flow = max(len(sim.world.twilio_retained(f))
                           for f in sim.world.live_twilio_flows())
        for rows, listed, after, before in loads:
            # the budget, plus what was in flight when it was spent: up to 4 flows read whole,
            # 16 steps fetches queued (a handful of steps each)
            assert rows <= budget + 4 * largest_flow + 16 * 10
            if before * 2 >= budget:  # steps waiting fill the load: no flow is read
                assert listed == 0 and after < before
        assert runner.executions() == execution_truth(sim, since)
        assert runner.steps() == step_truth(sim, since)


def test_hilos_flow_executions_are_read_once_however_many_loads_the_contacts_take(
        tmp_path: Path) -> None:
    """Issue 27: once the run has read the flow executions to their end, its later loads
    (the contacts' backfill going on) do not list them again; a backfill finished in a load
    used to make the next load re-read the open ones, which a checkpoint cut short again."""
    with Simulator(small_config(hilos_api_token=HILOS_TOKEN, hilos_contact_runs=20000,
                                twilio_executions=0)) as sim:
        checkpoint = Checkpoint(seconds=1e9, requests=10**9, rows=2000)
        listed: list[int] = []
        runner = hilos_runner(sim, tmp_path, checkpoint, page_size=1000)
        while True:
            runner.run()
            listed.append(sim.stats()["requests"].get("hilos.flow_executions.list", 0))
            if not checkpoint.reached:
                break
            assert len(listed) < 100, "the loads never finished"
        pages = -(-len(hilos_execution_truth(sim)) // 20)  # the list's pages of 20
        last = max(i for i, n in enumerate(listed) if n)  # the load that read the end
        assert len(listed) >= last + 3  # the contacts went on for loads after it
        # each load: the page on top, then the list from one page early, until due
        assert sum(listed) <= pages + 2 * (last + 1)
        assert runner.rows("flow_execution_contacts", CONTACT_COLUMNS) == contact_truth(sim)


def test_a_twilio_flow_read_paused_at_every_page_keeps_every_run_once_as_runs_arrive_and_change(
        tmp_path: Path) -> None:
    """Issue 27: one big flow, a row budget smaller than a page: its read pauses after each
    page and goes on below it next load, while runs arrive on top and open ones end."""
    # 20 days of history: nothing passes the 30-day retention while the loads go on
    with Simulator(small_config(twilio_flows=1, twilio_executions=4000, history_days=20)) as sim:
        since = visible_floor(sim)
        first = {r[0] for r in execution_truth(sim, since)}
        checkpoint = Checkpoint(seconds=1e9, requests=10**6, rows=500)
        runner = twilio_runner(sim, tmp_path, checkpoint)
        load_in_checkpoints(runner, checkpoint, lambda: sim.advance(
            600, new_twilio=20, new_hilos=0, finish_fraction=0.2))
        listed = [r for r in runner.transport.requests if r.url.path.endswith("/Executions")]
        # the first page, then the rest of the read below each pause: 3 or 4 pages more
        paused = [r for r in listed if "DateCreatedTo" in r.url.params]
        assert len(listed) - len(paused) == 1 and 3 <= len(paused) <= 4, listed
        for request in paused:
            validate_request(request)  # as the official spec has it
        # every run there was when the read began, once; what arrived since, next run
        sids = [r[0] for r in runner.executions()]
        assert len(sids) == len(set(sids)) and set(sids) == first
        steps = [r[0] for r in runner.steps()]
        assert len(steps) == len(set(steps))
        # runs that changed meanwhile are brought up to date by the next run
        load_in_checkpoints(runner, checkpoint, lambda: None)
        assert runner.executions() == execution_truth(sim, since)
        assert runner.steps() == step_truth(sim, since)
