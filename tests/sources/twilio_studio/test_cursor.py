"""Twilio Studio's per-flow cursor and plan: plain values in, plain values out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sources.twilio_studio.cursor import (
    FlowCursor,
    FlowPlan,
    FlowProgress,
    Resume,
    pack_pending,
    plan,
    unpack_pending,
)

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_first_sync_starts_at_the_initial_date() -> None:
    assert plan(FlowCursor(), None) == FlowPlan(date_from=None, refresh={})
    assert plan(FlowCursor(), at(-60)) == FlowPlan(date_from=at(-60), refresh={})


def test_nothing_active_lists_from_the_cursor() -> None:
    assert plan(FlowCursor(newest=at(0)), None) == FlowPlan(date_from=at(0), refresh={})


def test_few_executions_since_the_oldest_active_relist_from_it() -> None:
    cursor = FlowCursor(newest=at(0), active={"FN1": at(-30), "FN2": at(-5)},
                        rows_since_oldest_active=900)
    assert plan(cursor, None) == FlowPlan(date_from=at(-30), refresh={})


def test_one_old_active_execution_below_many_pages_is_fetched_by_sid() -> None:
    cursor = FlowCursor(newest=at(0), active={"FN1": at(-3000)}, rows_since_oldest_active=25_000)
    assert plan(cursor, None) == FlowPlan(date_from=at(0), refresh={"FN1": at(-3000)})


def test_actives_past_retention_are_dropped_and_counted() -> None:
    cursor = FlowCursor(newest=at(0), active={"FN1": at(-31 * 24 * 60), "FN2": at(-10)},
                        rows_since_oldest_active=50)
    assert plan(cursor, None) == FlowPlan(date_from=at(-10), refresh={}, expired=1)


def ex(sid: str, minutes: int, status: str = "ended") -> dict:
    return {"sid": sid, "date_created": at(minutes), "status": status}


def test_steps_are_wanted_once_per_execution_first_seen_ended() -> None:
    before = FlowCursor(newest=at(0), active={"FNa": at(-20)}, boundary={"FNtie1"})
    p = FlowPlan(date_from=at(-20), refresh={})
    progress = FlowProgress(before, p)
    for row in [ex("FNnew", 5), ex("FNnewactive", 4, "active"), ex("FNtie1", 0),
                ex("FNtie2", 0), ex("FNa", -20), ex("FNold", -10)]:
        progress.add(row)
    # new and ended; ended in the boundary second but not seen ended before; was active
    assert progress.need_steps == ["FNnew", "FNtie2", "FNa"]
    after = progress.finish()
    assert after.newest == at(5)
    assert after.active == {"FNnewactive": at(4)}
    assert after.boundary == {"FNnew"}
    # two rows listed at or after the oldest active one (4 min)
    assert after.rows_since_oldest_active == 2


def test_cursor_round_trips_through_state() -> None:
    cursor = FlowCursor(newest=at(0), active={"FN1": at(-3), "FN3": at(-2)}, boundary={"FN2"},
                        rows_since_oldest_active=7)
    state = cursor.to_state()
    # the active executions are one string in state: dlt copies the state every load
    assert state["active"] == f"FN1 {at(-3).isoformat()} FN3 {at(-2).isoformat()}"
    assert FlowCursor.from_state(state) == cursor
    paused = FlowCursor(newest=at(0), resume=Resume(None, at(-1), cursor, 9, 4))
    assert paused.to_state()["resume"]["after"]["active"] == state["active"]
    assert FlowCursor.from_state(paused.to_state()) == paused
    # an earlier release's {sid: time} form reads the same
    earlier = {**state, "active": {"FN1": at(-3).isoformat(), "FN3": at(-2).isoformat()}}
    assert FlowCursor.from_state(earlier) == cursor


def test_retention_counts_from_the_apis_clock_not_the_newest_execution() -> None:
    # the newest execution is a week old; the api's clock says 25 days since the oldest
    # active one: still within retention, so it is refreshed, not reported lost
    cursor = FlowCursor(newest=at(0), active={"FN1": at(-18 * 24 * 60)},
                        rows_since_oldest_active=50_000)
    now = at(7 * 24 * 60)
    assert plan(cursor, None, now) == FlowPlan(date_from=at(0), refresh={"FN1": at(-18 * 24 * 60)})
    # 31 days before the api's clock: gone, counted as lost
    later = at(14 * 24 * 60)
    assert plan(cursor, None, later) == FlowPlan(date_from=at(0), refresh={}, expired=1)


def test_steps_waiting_are_kept_one_string_per_run_of_a_flow_in_order() -> None:
    waiting = [("FW1", "FN1"), ("FW1", "FN2"), ("FW2", "FN3"), ("FW1", "FN4")]
    packed = pack_pending(waiting)
    assert packed == [["FW1", "FN1 FN2"], ["FW2", "FN3"], ["FW1", "FN4"]]
    assert unpack_pending(packed) == waiting
    assert pack_pending([]) == [] and unpack_pending(None) == []
    # what an earlier release kept: a pair per execution
    assert unpack_pending([["FW1", "FN1"], ["FW2", "FN3"]]) == [("FW1", "FN1"), ("FW2", "FN3")]

