"""Hilos' cursors and re-read plans: plain values in, plain values out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sources.hilos.cursor import (
    Backfill,
    ContactsCursor,
    ContactsProgress,
    ExecutionsCursor,
    ExecutionsProgress,
    WindowPlan,
    cut_after,
    plan_contacts,
    plan_executions,
)
from sources.hilos.window import Order

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
LOOKBACK = timedelta(days=30)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def run(i: int, hours: float, status: str) -> dict:
    return {"id": f"r{i}", "created_on": at(hours), "status": status}


def test_a_first_sync_reads_everything_or_from_the_initial_date() -> None:
    assert plan_contacts(ContactsCursor(), LOOKBACK, None) == WindowPlan(None)
    assert plan_contacts(ContactsCursor(), LOOKBACK, at(-5)) == WindowPlan(at(-5))
    assert plan_executions(ExecutionsCursor(), LOOKBACK, None) == WindowPlan(None)


def test_contacts_reread_down_to_the_oldest_open_run() -> None:
    assert plan_contacts(ContactsCursor(at(0)), LOOKBACK, None) == WindowPlan(at(0))
    assert plan_contacts(ContactsCursor(at(0), at(-3)), LOOKBACK, None) == WindowPlan(at(-3))
    # the initial date still bounds the window
    assert plan_contacts(ContactsCursor(at(0), at(-3)), LOOKBACK, at(-1)) == WindowPlan(at(-1))


def test_contacts_open_beyond_lookback_are_cut_and_said() -> None:
    cursor = ContactsCursor(at(0), at(-24 * 40))
    assert plan_contacts(cursor, LOOKBACK, None) == WindowPlan(at(-24 * 30), cut_from=at(-24 * 40))


def test_contacts_progress_keeps_the_newest_and_this_syncs_oldest_open() -> None:
    before = ContactsCursor(at(0), at(-3), Order(verified=True))
    progress = ContactsProgress(before, before.order)
    progress.add([run(1, 2, "COMPLETED"), run(2, 1, "RUNNING"), run(3, -1, "READY"),
                  run(4, -3, "COMPLETED")])
    assert progress.finish() == ContactsCursor(at(2), at(-1), Order(verified=True))
    # nothing read: the cursor never moves back and nothing is open
    empty = ContactsProgress(before, before.order)
    assert empty.finish() == ContactsCursor(at(0), None, Order(verified=True))


def test_open_executions_near_the_top_are_reread_with_the_list() -> None:
    cursor = ExecutionsCursor(at(0), {"e1": at(-2), "e2": at(-1)}, page_len=20,
                              oldest_open_position=30)
    # two pages down and two open executions: re-reading is no dearer than two details
    assert plan_executions(cursor, LOOKBACK, None) == WindowPlan(
        at(-2), refresh={"e1": at(-2), "e2": at(-1)})


def test_one_open_execution_far_down_is_fetched_by_id() -> None:
    cursor = ExecutionsCursor(at(0), {"e1": at(-200)}, page_len=20, oldest_open_position=500)
    assert plan_executions(cursor, LOOKBACK, None) == WindowPlan(at(0), refresh={"e1": at(-200)})


def test_open_executions_beyond_lookback_are_dropped_and_counted() -> None:
    cursor = ExecutionsCursor(at(0), {"old": at(-24 * 31), "e1": at(-1)}, page_len=20)
    assert plan_executions(cursor, LOOKBACK, None) == WindowPlan(at(-1), refresh={"e1": at(-1)},
                                                                 dropped=1)


def test_executions_progress_places_the_oldest_open_one() -> None:
    before = ExecutionsCursor(at(0), {"e9": at(-50)}, page_len=None)
    progress = ExecutionsProgress(before, before.order)
    progress.listed([run(1, 3, "RUNNING"), run(2, 2, "COMPLETED"), run(3, 1, "STARTING")])
    progress.listed([run(4, 0, "CANCELED")])
    # a refreshed open execution lies below everything read
    progress.refreshed([{"id": "e9", "created_on": at(-50), "status": "RUNNING"}])
    after = progress.finish()
    assert progress.seen == {"r1", "r2", "r3", "r4"}
    assert after == ExecutionsCursor(at(3), {"r1": at(3), "r3": at(1), "e9": at(-50)},
                                     page_len=3, oldest_open_position=4)


def test_cursors_round_trip_through_state_and_read_older_state() -> None:
    contacts = ContactsCursor(at(0), at(-2), Order(verified=True, unordered=False))
    assert ContactsCursor.from_state(contacts.to_state()) == contacts
    executions = ExecutionsCursor(at(0), {"e1": at(-1)}, 20, 7, Order(True, True))
    assert executions.to_state()["open"] == f"e1 {at(-1).isoformat()}"  # one string
    assert ExecutionsCursor.from_state(executions.to_state()) == executions
    # state written before the cursors existed: same keys, some absent
    old = {"newest": at(0).isoformat(), "open": {"e1": at(-1).isoformat(), "bad": "x"},
           "order_verified": True}
    assert ExecutionsCursor.from_state(old) == ExecutionsCursor(
        at(0), {"e1": at(-1)}, None, 0, Order(verified=True))
    assert ContactsCursor.from_state(None) == ContactsCursor()


def test_a_backfill_goes_on_one_page_early_below_what_arrived_on_top() -> None:
    b = Backfill(page=3, page_size=100, count=1000, below=at(-10), ids={"r1"}, until=None)
    # nothing arrived: the unread rows start on page 4; one page early
    assert b.first_page(1000) == 3
    # 250 arrived on top: the first unread row moved from position 300 to 550 (page 6)
    assert b.first_page(1250) == 5
    # no count to go by: from where it was, one page early
    assert b.first_page(None) == 3
    assert Backfill(1, 100, 50, at(0), set(), None).first_page(50) == 1


def test_a_backfill_keeps_only_rows_the_cut_read_had_not_reached() -> None:
    b = Backfill(page=2, page_size=3, count=9, below=at(-5), ids={"r5"}, until=at(-20))
    assert b.keeps(run(1, -6, "COMPLETED"))
    assert not b.keeps(run(2, -4, "COMPLETED"))
    assert not b.keeps({"id": "r5", "created_on": at(-5)})  # read at the boundary
    assert b.keeps({"id": "r6", "created_on": at(-5)})  # at the boundary, not read


def test_a_cut_remembers_the_oldest_time_read_and_its_ids() -> None:
    rows = [run(1, -1, "RUNNING"), run(2, -3, "COMPLETED"), run(3, -3, "READY")]
    cut = cut_after(rows, page=4, count=500, until=at(-48))
    assert cut == Backfill(4, 3, 500, at(-3), {"r2", "r3"}, at(-48))
    # a read that went on with a backfill and stopped at the same time keeps its ids too
    again = cut_after([run(4, -3, "COMPLETED")], page=5, count=500, until=at(-48), before=cut)
    assert again is not None and again.ids == {"r2", "r3", "r4"}
    assert cut_after([], page=1, count=0, until=None) is None
    assert Backfill.from_state(cut.to_state()) == cut


def test_while_a_backfill_is_pending_a_sync_reads_only_what_arrived_on_top() -> None:
    pending = Backfill(2, 100, 1000, at(-10), set(), None)
    contacts = ContactsCursor(at(0), at(-30), backfill=pending)
    assert plan_contacts(contacts, LOOKBACK, None) == WindowPlan(at(0))
    executions = ExecutionsCursor(at(0), {"e1": at(-30)}, 20, backfill=pending)
    assert plan_executions(executions, LOOKBACK, None) == WindowPlan(at(0))
    # the oldest open run of every load since the backfill began is kept
    progress = ContactsProgress(contacts, contacts.order)
    progress.add([run(1, 1, "RUNNING")])
    assert progress.finish(None).oldest_open == at(-30)
