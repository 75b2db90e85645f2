"""A flow's read paused at checkpoints (issue 27: a load holds about `checkpoint.rows` rows,
however big a flow) ends exactly as a read in one go: the same cursor, each execution
loaded once, each execution's steps wanted once. Plain code: `sync_flow` against a listing
that filters and pages as the API does."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from sources.records import Quarantine
from sources.twilio_studio.cursor import FlowCursor
from sources.twilio_studio.workers import FlowDone, Rows, sync_flow

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
FLOW = "FW" + "0" * 32


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Listing:
    """One flow's executions as the API lists them: created in [from, to), newest-first
    (or oldest-first), `page` to a page."""

    rows: list[dict]
    page: int = 7
    newest_first: bool = True
    asked: list[tuple] = field(default_factory=list)
    http: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(server_time=None))

    def execution_pages(self, flow_sid, date_from, date_to=None):
        self.asked.append((date_from, date_to))
        listed = sorted(self.rows, key=lambda r: (r["date_created"], r["sid"]),
                        reverse=self.newest_first)
        listed = [r for r in listed if (date_from is None or r["date_created"] >= iso(date_from))
                  and (date_to is None or r["date_created"] < iso(date_to))]
        chunks = [listed[i:i + self.page] for i in range(0, len(listed), self.page)] or [[]]
        for i, chunk in enumerate(chunks):
            yield [dict(r) for r in chunk], i < len(chunks) - 1

    def execution(self, flow_sid, sid):
        return next((dict(r) for r in self.rows if r["sid"] == sid), None)


def world(n: int, seconds_apart: list[int], active_every: int = 3) -> list[dict]:
    """n executions; the i-th created `seconds_apart[i % len]` seconds after the one
    before (0: the same second), every `active_every`-th still active."""
    rows, ts = [], T0
    for i in range(n):
        ts += timedelta(seconds=seconds_apart[i % len(seconds_apart)])
        rows.append({"sid": f"FN{i:04d}", "date_created": iso(ts),
                     "status": "active" if i % active_every == 0 else "ended"})
    return rows


def one_sync(listing: Listing, cursor: FlowCursor, due_every_page: bool):
    """A sync of the flow, in as many loads as it pauses: the cursor after it, the
    rows each load handed on, and the executions whose steps were wanted."""
    loads, wanted = [], []
    while True:
        messages = []
        sync_flow(listing, FLOW, cursor, None, Quarantine("t", "executions"), messages.append,
                  due=lambda rows: due_every_page)
        (done,) = [m for m in messages if isinstance(m, FlowDone)]
        loads.append([r["sid"] for m in messages if isinstance(m, Rows) for r in m.rows])
        wanted += done.need_steps
        # what the load commits is what the next one reads: the state, serialised
        cursor = FlowCursor.from_state(done.cursor.to_state())
        if done.complete:
            assert cursor.resume is None
            return cursor, loads, wanted
        assert cursor.resume is not None and len(loads) < 1000


def finish_some(rows: list[dict], every: int, arrivals: list[dict]) -> list[dict]:
    """The world later: every `every`-th active execution ended, and new ones arrived."""
    later = [dict(r, status="ended") if r["status"] == "active" and int(r["sid"][2:]) % every == 0
             else dict(r) for r in rows]
    return later + arrivals


SHAPES = {  # how executions follow each other, and the most a load then holds
    "a second apart": ([1], 7),  # a page
    "several in a second": ([0, 0, 1, 0, 3], 7),
    # ten in a second: a page may fall inside one second, and the load goes on a page
    "long runs of one second": ([0] * 9 + [2], 14),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_read_paused_at_every_page_ends_as_one_read_in_one_go(shape: str) -> None:
    apart, most = SHAPES[shape]
    rows = world(60, apart)
    arrivals = [dict(r, sid="FX" + r["sid"][2:]) for r in world(25, apart)]
    for r in arrivals:  # created after the first world's newest
        r["date_created"] = iso(datetime.fromisoformat(r["date_created"]) + timedelta(hours=1))
    # a first sync, then one after runs ended and new ones arrived
    rounds = [rows, finish_some(rows, 2, arrivals)]
    whole, paused = FlowCursor(), FlowCursor()
    for listed in rounds:
        whole, (load,), wanted_whole = one_sync(Listing(listed), whole, due_every_page=False)
        paused, loads, wanted_paused = one_sync(Listing(listed), paused, due_every_page=True)
        assert paused == whole
        assert sorted(wanted_paused) == sorted(wanted_whole)  # each once
        handed = [sid for part in loads for sid in part]
        assert sorted(handed) == sorted(load)  # each execution once, in one load or another
        assert len(loads) > 3 and max(len(part) for part in loads) <= most
    # the second round's cursor relists from the oldest active one: the count that
    # chooses that (rows listed since it) is the same however the read was paused
    assert whole.rows_since_oldest_active > 0


def test_a_page_all_in_one_second_is_not_a_place_to_pause() -> None:
    # 7 executions a second: every page is one second, and no page can be cut without
    # reading the same page again next load
    rows = world(28, [1, 0, 0, 0, 0, 0, 0])
    listing = Listing(rows)
    cursor, loads, _ = one_sync(listing, FlowCursor(), due_every_page=True)
    assert len(loads) == 1 and sorted(loads[0]) == sorted(r["sid"] for r in rows)
    assert listing.asked == [(None, None)]
    assert cursor == one_sync(Listing(rows), FlowCursor(), due_every_page=False)[0]


def test_the_rest_of_a_paused_read_is_asked_for_with_date_created_to() -> None:
    rows = world(20, [1])
    listing = Listing(rows)
    one_sync(listing, FlowCursor(), due_every_page=True)
    # pages of 7, newest-first; the oldest second of each page is left to the next load,
    # which asks for what was created before the second after it: 6 rows a load
    tos = [to for _, to in listing.asked]
    assert tos[0] is None
    assert [iso(t) for t in tos[1:]] == [rows[14]["date_created"], rows[8]["date_created"],
                                        rows[2]["date_created"]]


def test_a_flow_not_listed_newest_first_is_read_in_one_go(caplog) -> None:
    rows = world(30, [1])
    listing = Listing(rows, newest_first=False)
    with caplog.at_level(logging.WARNING, "flowsync.twilio_studio"):
        cursor, loads, wanted = one_sync(listing, FlowCursor(), due_every_page=True)
    assert len(loads) == 1 and len(loads[0]) == 30 and listing.asked == [(None, None)]
    assert "not listed newest-first" in caplog.text
    whole, _, wanted_whole = one_sync(Listing(rows), FlowCursor(), due_every_page=False)
    assert cursor == whole and sorted(wanted) == sorted(wanted_whole)


def test_a_cursor_from_an_earlier_release_has_no_paused_read() -> None:
    old = {"newest": "2026-11-01T12:00:00+00:00", "active": {"FN1": "2026-11-01T11:00:00+00:00"},
           "boundary": ["FN2"], "rows_since_oldest_active": 4}
    cursor = FlowCursor.from_state(old)
    # written back the same, the active executions as one string (this release's form)
    assert cursor.resume is None
    assert cursor.to_state() == {**old, "active": "FN1 2026-11-01T11:00:00+00:00"}
    assert FlowCursor.from_state(cursor.to_state()) == cursor
